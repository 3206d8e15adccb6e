"""The real train stage on the tiny digits corpus: same config, same losses; curves and summary at the end."""

import json
import re

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
    log = (exp / "train.log").read_text()
    assert "training summary" in log
    assert "valid.loss.ave_3best.pth averages only 2 checkpoints, not 3" in log  # 2 epochs validated
    image = Image.open(exp / "curves.png")
    assert image.size == (1100, 400)  # loss panel + validation metrics (ter) panel
    assert history["wall_seconds"] > 0
    epochs = history["epochs"]  # where each epoch's time went, also one line per epoch in train.log
    assert [(r["epoch"], r["steps"]) for r in epochs] == [(0, 4), (1, 4)]
    for row in epochs:
        assert 0 < row["data_wait_seconds"] < row["train_seconds"] < history["wall_seconds"]
        assert row["valid_seconds"] > 0
    assert sum(r["train_seconds"] + r["valid_seconds"] for r in epochs) <= history["wall_seconds"]
    log = (exp / "train.log").read_text()
    assert re.search(r"epoch 2: 4 steps in [0-9.]+ s \([0-9.]+ s/step, \d+ % waiting for batches\), validation", log)
    assert re.search(r"last epoch       4 steps in [0-9.]+ s", text)
