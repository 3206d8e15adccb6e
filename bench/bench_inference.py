"""Inference speed of the digits model: 1 vs 2 Dask workers, and batch size 1 vs 16 (CTC greedy).

Not a test: it prints a table. It uses the trained digits experiment given by --recipe
(default: this repo's egs3/digits/asr, read only; outputs go to --out), or, when that has
no trained model, builds a small corpus and trains a tiny model in --out first.

    python bench/bench_inference.py [--recipe DIR] [--out DIR]

Each configuration infers ``test_human`` first and then ``test`` on one Dask cluster, so
``test`` runs on warm workers (models loaded): its RTF is the steady-state number; the
end-to-end wall time includes starting the cluster and loading the models.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = Path(__file__).resolve().parent.parent / "egs3/digits/asr"
SMALL_CORPUS = ["create_dataset.num_train=300", "create_dataset.num_valid=30", "create_dataset.num_test=96",
                "create_dataset.num_test_human=32"]
SMALL_MODEL = ["model.num_layers=2", "model.d_model=96", "model.ffn_dim=256", "trainer.max_epochs=2"]
TEST_SETS = """dataset:
  test:
    - name: test_human
      data_src_args: {{manifest_dir: "{data}/manifest", split: test_human}}
    - name: test
      data_src_args: {{manifest_dir: "{data}/manifest", split: test}}
"""


def loads(exp_dir: Path) -> bool:
    """Whether the experiment's best checkpoint loads into this checkout's model code."""
    from vocalis.infer.speech2text import Speech2Text

    try:
        Speech2Text(exp_dir, checkpoint="best")
    except Exception as err:  # missing, or trained with other model code
        print(f"cannot use {exp_dir}: {str(err)[:200]}")
        return False
    return True


def trained_recipe(recipe: Path, out: Path) -> tuple[Path, list[str]]:
    """A recipe folder with a trained ``exp/training`` (the given one, or a tiny one trained in ``out``)."""
    if loads(recipe / "exp" / "training"):
        return recipe, []
    from vocalis.stages.runner import run_stages

    print(f"training a tiny model in {out}/egs3/digits/asr instead (a few minutes)")
    copy = out / "egs3" / "digits" / "asr"
    if not copy.exists():
        shutil.copytree(REPO / "egs3" / "digits" / "asr", copy, ignore=shutil.ignore_patterns("data", "exp"))
    overrides = SMALL_CORPUS + SMALL_MODEL
    run_stages(copy, ["create_dataset", "train_tokenizer", "collect_stats", "train"],
               {"training": copy / "conf" / "training.yaml"}, overrides)
    return copy, overrides


def infer(recipe: Path, overrides: list[str], out: Path, name: str, settings: str) -> tuple[dict, float, Path]:
    """Run the infer stage with ``settings``; returns its stats per test set, the wall seconds and its folder."""
    from vocalis.stages.runner import run_stages

    inference_dir = out / name
    shutil.rmtree(inference_dir, ignore_errors=True)
    conf = out / "conf" / f"{name}.yaml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(TEST_SETS.format(data=recipe / "data") + f"inference_dir: {inference_dir}\n" + settings)
    files = {"training": recipe / "conf" / "training.yaml", "inference": conf}
    start = time.perf_counter()
    stats = run_stages(recipe, ["infer"], files, overrides)["infer"]
    return stats, time.perf_counter() - start, inference_dir


def same_outputs(a: Path, b: Path) -> bool:
    return all((a / t / "hyp.scp").read_bytes() == (b / t / "hyp.scp").read_bytes() for t in ("test", "test_human"))


def row(label: str, stats: dict, wall: float) -> str:
    test = stats["test"]
    return (f"| {label} | {test['utterances']} | {test['audio_seconds']:.1f} | {test['wall_seconds']:.2f} | "
            f"{test['rtf']:.4f} | {wall:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=DEMO)
    parser.add_argument("--out", type=Path, default=None, help="where outputs go (default: a temporary folder)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="vocalis_bench_"))
    recipe, overrides = trained_recipe(args.recipe.resolve(), out.resolve())

    runs = {}
    for label, settings in [
        ("1 worker, batch 16", "batch_size: 16\nshard_size: 16\nparallel: {env: local, n_workers: 1}\n"),
        ("2 workers, batch 16", "batch_size: 16\nshard_size: 16\nparallel: {env: local, n_workers: 2}\n"),
        ("in process, batch 1", "batch_size: 1\nshard_size: 64\nparallel: null\n"),
        ("in process, batch 16", "batch_size: 16\nshard_size: 64\nparallel: null\n"),
    ]:
        runs[label] = infer(recipe, overrides, out, label.replace(" ", "_").replace(",", ""), settings)
        print(f"done: {label}", flush=True)

    print(f"\nmodel: {recipe}/exp/training; outputs in {out}; {os.cpu_count()} CPU cores, load average "
          f"{os.getloadavg()[0]:.1f} (other processes share these cores: read the ratios with that in mind)\n")
    print("| setting | utts (test) | audio s | wall s (warm) | RTF (warm) | end-to-end s |\n|---|---|---|---|---|---|")
    for label, (stats, wall, _) in runs.items():
        print(row(label, stats, wall))
    w1, w2 = runs["1 worker, batch 16"], runs["2 workers, batch 16"]
    b1, b16 = runs["in process, batch 1"], runs["in process, batch 16"]
    print(f"\n2 vs 1 Dask workers: speed-up {w1[0]['test']['rtf'] / w2[0]['test']['rtf']:.2f}x warm, "
          f"{w1[1] / w2[1]:.2f}x end-to-end; outputs identical: {same_outputs(w1[2], w2[2])}")
    print(f"batch 16 vs batch 1 (greedy): speed-up {b1[0]['test']['rtf'] / b16[0]['test']['rtf']:.2f}x warm, "
          f"{b1[1] / b16[1]:.2f}x end-to-end; outputs identical: {same_outputs(b1[2], b16[2])}")


if __name__ == "__main__":
    main()
