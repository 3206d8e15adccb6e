"""Two DDP processes on CPU (gloo) through the recipe's run.py: disjoint data per rank, one set of outputs,
a NaN loss on one rank skipped on both."""

import json
import os
import shutil
import subprocess
import sys

import torch

from vocalis.stages.runner import run_stages

TINY = ["model.num_layers=1", "model.d_model=32", "model.num_heads=2", "model.ffn_dim=64",
        "model.subsampling_channels=8", "trainer.max_epochs=2", "dataloader.batch_size=4",
        "dataloader.num_workers=0", "trainer.log_every_n_steps=1"]

RECORDER = '''
from pathlib import Path

import lightning as L
import torch


class RecordIds(L.Callback):
    """Writes ``<exp_dir>/seen_rank<r>.txt``: ``epoch<TAB>utt_id`` for every training utterance this rank saw."""

    def __init__(self):
        self.seen = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.seen += [(trainer.current_epoch, u) for u in batch["utt_id"]]

    def on_train_end(self, trainer, module):
        path = Path(trainer.default_root_dir) / f"seen_rank{trainer.global_rank}.txt"
        path.write_text("".join(f"{e}\\t{u}\\n" for e, u in self.seen))
        torch.save(module.model.state_dict(), path.with_name(f"weights_rank{trainer.global_rank}.pt"))


class NanOnRank1(L.Callback):
    """Puts a NaN into rank 1's batch at global step 2: both ranks must skip it (or DDP would hang)."""

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_rank == 1 and trainer.global_step == 2:
            batch["speech"][0, 0, 0] = float("nan")
'''


def test_two_ddp_ranks_share_the_data_disjointly_and_write_one_set_of_checkpoints(recipes, tiny_corpus):
    recipe = recipes["digits"]
    overrides = tiny_corpus + TINY
    run_stages(recipe, ["train_tokenizer", "collect_stats"], {"training": recipe / "conf/training.yaml"}, overrides)
    (recipe / "src").mkdir(exist_ok=True)
    (recipe / "src/record_ids.py").write_text(RECORDER)
    shutil.rmtree(recipe / "exp/stats/features", ignore_errors=True)  # stored by earlier tests of this session
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("LOCAL_RANK", None)
    done = subprocess.run([sys.executable, "run.py", "--stages", "train", *overrides, "exp_tag=ddp",
                           "trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu",
                           "callbacks=[{_target_: src.record_ids.RecordIds}, {_target_: src.record_ids.NanOnRank1}]"],
                          cwd=recipe, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    # rank 0 precomputed the features and stored them; rank 1, started later, loaded them
    logged = done.stdout + done.stderr
    assert logged.count("wrote 24 precomputed feature entries") == 1, logged[-4000:]
    assert logged.count("loaded 24 precomputed feature entries") == 1
    exp = recipe / "exp/ddp"
    seen = {r: [line.split("\t") for line in (exp / f"seen_rank{r}.txt").read_text().splitlines()] for r in (0, 1)}
    train_ids = [line.split("\t")[0] for line in (recipe / "data/manifest/train.tsv").read_text().splitlines()[1:]]
    for epoch in ("0", "1"):
        ids = {r: [u for e, u in seen[r] if e == epoch] for r in (0, 1)}
        assert len(ids[0]) == len(ids[1]) == 12  # 3 batches of 4 each
        assert not set(ids[0]) & set(ids[1])
        assert sorted(ids[0] + ids[1]) == sorted(train_ids)

    weights = [torch.load(exp / f"weights_rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])  # no rank stepped alone

    ckpts = sorted(p.name for p in (exp / "checkpoints").iterdir())
    assert "last.ckpt" in ckpts and len(ckpts) == 3 and not any("-v" in n for n in ckpts), ckpts
    assert len(list(exp.glob("*.ave_*best.pth"))) == 1 and (exp / "summary.txt").is_file()
    marker = json.loads((exp / ".train.done").read_text())
    assert marker["global_step"] == 6  # 3 steps per epoch on each rank, 2 epochs
    history = json.loads((exp / "history.json").read_text())
    assert [s for s, _ in history["train"]] == [1, 2, 4, 5, 6] and history["skipped"] == 1  # rank 0 skipped too
    assert "non-finite loss (" in (exp / "train.log").read_text() and "at global step 2" in (exp / "train.log").read_text()
