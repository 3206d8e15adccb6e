"""Training epochs with the feature cache filled before training vs filled as pairs are drawn.

Trains the digits recipe's ``training_conformer_aug.yaml`` (speed perturbation with 5
factors, SpecAugment, one loader worker) for ``--epochs`` epochs twice in one process
(each time a fresh model, the same seed and batches) through the real train stage:
``dataloader.precompute_features: false`` (the lazy cache: an (utterance, factor) pair is
computed in the loader worker the first time it is drawn) and ``true`` (every pair computed
before the first step, on all cores). Prints each run's epoch times from ``history.json`` and
the ratio lazy / precomputed of the training seconds (goal > 1: the loop gets faster), with
the precompute time counted against it::

    python bench/bench_loader.py --epochs 3

Needs the digits corpus and its stats (``python egs3/digits/asr/run.py --stages create_dataset
collect_stats --training_config conf/training_conformer_aug.yaml``). Experiments are written to a
temporary folder and removed.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path

from vocalis.cli import setup_logging
from vocalis.stages.runner import run_stages

RECIPE = Path(__file__).resolve().parents[1] / "egs3" / "digits" / "asr"
CONFIG = RECIPE / "conf" / "training_conformer_aug.yaml"


def train_epochs(exp_root: Path, precompute: bool, epochs: int, workers: int) -> dict:
    """One train stage; ``{"epochs": [train seconds...], "precompute_s": s, "valid_loss": [...]}``."""
    tag = f"bench_loader_{'pre' if precompute else 'lazy'}"
    exp_dir = exp_root / tag
    run_stages(RECIPE, ["train"], {"training": CONFIG},
               [f"exp_dir={exp_dir}", f"trainer.max_epochs={epochs}", f"dataloader.num_workers={workers}",
                f"dataloader.precompute_features={str(precompute).lower()}"])
    history = json.loads((exp_dir / "history.json").read_text())
    log = (exp_dir / "train.log").read_text()
    precompute_s = sum(float(s) for s in re.findall(r"precomputed \d+ feature entries .*? in ([0-9.]+) s", log))
    return {"epochs": [row["train_seconds"] for row in history["epochs"]], "precompute_s": precompute_s,
            "valid_loss": [round(row["valid/loss"], 5) for row in history["valid"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="dataloader.num_workers of both runs")
    args = parser.parse_args()
    setup_logging()
    with tempfile.TemporaryDirectory(prefix="vocalis-bench-loader-") as tmp:
        start = time.monotonic()
        lazy = train_epochs(Path(tmp), False, args.epochs, args.workers)
        pre = train_epochs(Path(tmp), True, args.epochs, args.workers)
    for name, run in (("lazy cache", lazy), ("precomputed", pre)):
        print(f"{name:12s} epochs (train s): {' '.join(f'{s:.1f}' for s in run['epochs'])}   "
              f"precompute {run['precompute_s']:.1f} s   valid loss {run['valid_loss']}")
    lazy_s, pre_s = sum(lazy["epochs"]), sum(pre["epochs"])
    print(f"training seconds, lazy / precomputed: {lazy_s / pre_s:.2f}x "
          f"({lazy_s:.1f} s against {pre_s:.1f} s); with the precompute counted: "
          f"{lazy_s / (pre_s + pre['precompute_s']):.2f}x")
    print(f"same valid losses: {lazy['valid_loss'] == pre['valid_loss']}   (bench wall {time.monotonic() - start:.0f} s)")


if __name__ == "__main__":
    main()
