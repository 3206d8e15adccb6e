"""The seed page's recipe, verbatim: MyModel trains through a CTC loss block and is scored."""

import json
import math
from pathlib import Path

import jiwer
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from vocalis.infer.scp import read_scp
from vocalis.stages.runner import run_stages

REPO = Path(__file__).resolve().parents[2]

SEED_MODEL = '''import torch


class MyModel(torch.nn.Module):
    def __init__(self, hidden_size: int, vocab_size: int):
        super().__init__()
        self.encoder = torch.nn.Linear(80, hidden_size)
        self.head = torch.nn.Linear(hidden_size, vocab_size)

    def forward(self, speech):
        hidden = self.encoder(speech)
        return self.head(hidden)
'''


def test_seed_files_are_the_seed_page_verbatim():
    recipe = REPO / "egs3" / "seed_minimal" / "asr"
    assert (recipe / "src" / "model.py").read_text() == SEED_MODEL
    training = (recipe / "conf" / "training.yaml").read_text()
    assert "task:\nmodel:\n  _target_: src.model.MyModel\n  hidden_size: 256\n  vocab_size: 500\n" in training
    assert "output_fn: src.inference.build_output" in (recipe / "conf" / "inference.yaml").read_text()


def train_losses(exp_dir: Path, tag: str) -> list[float]:
    acc = EventAccumulator(str(exp_dir / "tensorboard"))
    acc.Reload()
    return [e.value for e in acc.Scalars(tag)]


def test_seed_recipe_trains_infers_and_scores(recipes, tiny_corpus):
    recipe = recipes["seed_minimal"]
    files = {role: recipe / f"conf/{role}.yaml" for role in ("training", "inference", "metrics")}
    overrides = tiny_corpus + ["trainer.max_epochs=4", "trainer.log_every_n_steps=1", "dataloader.batch_size=4"]
    results = run_stages(recipe, ["all"], files, overrides)

    exp_dir = recipe / "exp" / "training"
    assert len(train_losses(exp_dir, "train/loss_step")) == 4 * math.ceil(24 / 4)
    epoch_losses = train_losses(exp_dir, "train/loss_epoch")  # steps differ in length; epochs see the same data
    assert len(epoch_losses) == 4
    assert epoch_losses[-1] < 0.6 * epoch_losses[0], epoch_losses

    test_dir = exp_dir / "inference" / "test"
    hyp, ref = read_scp(test_dir / "hyp.scp"), read_scp(test_dir / "ref.scp")
    ids = [line.split("\t")[0] for line in (recipe.parents[1] / "digits/asr/data/manifest/test.tsv").read_text().splitlines()[1:]]
    assert list(hyp) == ids and list(ref) == ids

    metrics = json.loads((exp_dir / "inference" / "metrics.json").read_text())
    expected = jiwer.process_words([ref[i] for i in ids], [hyp[i] or "" for i in ids])
    wer = 100.0 * (expected.substitutions + expected.deletions + expected.insertions) / sum(len(ref[i].split()) for i in ids)
    assert abs(metrics["WER"]["test"]["WER"] - wer) < 0.01
    assert results["measure"]["WER"]["test"]["WER"] == metrics["WER"]["test"]["WER"]
