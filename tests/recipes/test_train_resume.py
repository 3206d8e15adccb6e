"""A training process killed with SIGKILL mid-epoch resumes from its mid-epoch checkpoint and
ends where an uninterrupted run ends: same step count, same losses, same weights."""

import json
import signal
import subprocess
import sys

import pytest
import torch

from vocalis.stages.runner import run_stages
from vocalis.train.averaging import model_state_dict
from vocalis.train.weights_io import read_weights

# 24 utterances / 4 = 6 batches per epoch, 2 epochs; dropout 0.1 stays on (the RNG state is resumed too)
TINY = ["model.num_layers=1", "model.d_model=32", "model.num_heads=2", "model.ffn_dim=64",
        "model.subsampling_channels=8", "trainer.max_epochs=2", "dataloader.batch_size=4",
        "checkpoint_every_n_steps=2"]

KILLER = '''
import os, signal
import lightning as L


class KillAt(L.Callback):
    """SIGKILLs its own process when training reaches ``step`` (after the checkpoint before it)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)
'''


@pytest.fixture(scope="module")
def prepared(recipes, tiny_corpus):
    recipe = recipes["digits"]
    overrides = tiny_corpus + TINY
    run_stages(recipe, ["train_tokenizer", "collect_stats"], {"training": recipe / "conf/training.yaml"}, overrides)
    (recipe / "src").mkdir(exist_ok=True)
    (recipe / "src/kill_callback.py").write_text(KILLER)
    return recipe, overrides


def test_sigkilled_run_resumes_mid_epoch_and_matches_an_uninterrupted_run(prepared):
    recipe, overrides = prepared
    training = {"training": recipe / "conf/training.yaml"}
    killed = subprocess.run([sys.executable, "run.py", "--stages", "train", *overrides, "exp_tag=resumed",
                             "callbacks=[{_target_: src.kill_callback.KillAt, step: 5}]"],
                            cwd=recipe, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    exp = recipe / "exp/resumed"
    ckpt = torch.load(exp / "checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 4 and ckpt["epoch"] == 0  # written mid-epoch 0 (after 4 of its 6 batches)
    assert not (exp / "last.pth").exists() and not (exp / ".train.done").exists()

    run_stages(recipe, ["train"], training, overrides + ["exp_tag=resumed"])
    run_stages(recipe, ["train"], training, overrides + ["exp_tag=straight"])
    log = (exp / "train.log").read_text()
    assert "resuming from" in log
    resumed, straight = (json.loads((recipe / f"exp/{tag}/history.json").read_text()) for tag in ("resumed", "straight"))
    assert [s for s, _ in resumed["train"]] == list(range(1, 13))  # no step replayed or lost
    assert [s for s, _ in straight["train"]] == list(range(1, 13))
    assert [l for _, l in resumed["train"]] == pytest.approx([l for _, l in straight["train"]], rel=1e-5)
    final_r, final_s = (model_state_dict(recipe / f"exp/{tag}/checkpoints/last.ckpt") for tag in ("resumed", "straight"))
    assert torch.load(exp / "checkpoints/last.ckpt", weights_only=True)["global_step"] == 12
    for name, value in final_s.items():
        assert torch.allclose(final_r[name], value, rtol=1e-4, atol=1e-6), name
    a, b = read_weights(exp / "last.pth"), read_weights(recipe / "exp/straight/last.pth")
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
