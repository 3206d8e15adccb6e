"""The real train stage on the tiny digits corpus: same config, same losses; curves and summary at the end."""

import json

import pytest
import torch
from PIL import Image

from vocalis.stages.runner import run_stages
from vocalis.train.weights_io import read_weights

TINY = ["model.num_layers=1", "model.d_model=32", "model.num_heads=2", "model.ffn_dim=64",
        "model.subsampling_channels=8", "trainer.max_epochs=2", "dataloader.batch_size=6", "trainer.log_every_n_steps=1"]


@pytest.fixture(scope="module")
def prepared(recipes, tiny_corpus):
    recipe = recipes["digits"]
    overrides = tiny_corpus + TINY
    run_stages(recipe, ["train_tokenizer", "collect_stats"], {"training": recipe / "conf/training.yaml"}, overrides)
    return recipe, overrides


def train(recipe, overrides, tag: str) -> dict:
    run_stages(recipe, ["train"], {"training": recipe / "conf/training.yaml"}, overrides + [f"exp_tag={tag}"])
    return json.loads((recipe / "exp" / tag / "history.json").read_text())


def test_two_cpu_runs_of_one_config_give_the_same_losses(prepared):
    recipe, overrides = prepared
    first, second = train(recipe, overrides, "seed_a"), train(recipe, overrides, "seed_b")
    assert len(first["train"]) == 8 and [s for s, _ in first["train"]] == list(range(1, 9))  # 24 utts / 6, 2 epochs
    assert first["train"] == second["train"]  # exact: dropout, shuffling and init all follow the seed
    assert [r["valid/loss"] for r in first["valid"]] == [r["valid/loss"] for r in second["valid"]]
    a, b = read_weights(recipe / "exp/seed_a/last.pth"), read_weights(recipe / "exp/seed_b/last.pth")
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = train(recipe, overrides + ["seed=1"], "seed_c")
    assert other["train"][0][1] != first["train"][0][1]


def test_summary_and_curves_are_written_at_the_end(prepared):
    recipe, overrides = prepared
    exp = recipe / "exp/seed_a"
    if not (exp / "summary.txt").is_file():
        train(recipe, overrides, "seed_a")
    text = (exp / "summary.txt").read_text()
    history = json.loads((exp / "history.json").read_text())
    best = min(history["valid"], key=lambda r: r["valid/loss"])
    assert "steps            8 in 2 epochs" in text
    assert f"valid/loss = {best['valid/loss']:.4g} (min) at epoch {best['epoch'] + 1}, step {best['step']}" in text
    assert "best checkpoint  checkpoints/epoch" in text and "averaged best    valid.loss.ave_3best.pth" in text
    assert "(100.0 %)" in text and "skipped batches  0" in text and len(text.splitlines()) <= 24
    assert "training summary" in (exp / "train.log").read_text()
    image = Image.open(exp / "curves.png")
    assert image.size == (1100, 400)  # loss panel + validation metrics (ter) panel
    assert history["wall_seconds"] > 0
