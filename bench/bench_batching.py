"""Padding fraction of one training epoch: duration bucketing vs fixed-size batches.

Padding fraction = 1 - real frames / (batch size x longest utterance), summed over the
epoch's batches (what the encoder computes on zeros). Goal: <= 5 % with bucketing::

    python bench/bench_batching.py

Frame counts come from the manifest's durations (10 ms frames, as collect_stats writes
them). Averaged over ``--epochs`` shuffled epochs. Nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from vocalis.data.duration_batching import DurationBatchSampler, padding_fraction
from vocalis.data.features import Fbank
from vocalis.data.manifest import read_manifest


def epoch_stats(sampler: DurationBatchSampler, frames: np.ndarray, epochs: int) -> tuple[float, float, float]:
    """Mean padding fraction, batches per epoch and items per batch."""
    pads, counts, sizes = [], [], []
    for epoch in range(epochs):
        batches = sampler.batches(epoch)
        pads.append(padding_fraction(batches, frames))
        counts.append(len(batches))
        sizes.append(np.mean([len(b) for b in batches]))
    return float(np.mean(pads)), float(np.mean(counts)), float(np.mean(sizes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parent.parent / "egs3/digits/asr/data"),
                        help="a built digits data folder (python egs3/digits/asr/run.py --stages create_dataset)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batch-seconds", type=float, default=80.0)
    parser.add_argument("--num-buckets", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()

    rows = read_manifest(Path(args.data) / "manifest" / f"{args.split}.tsv")
    seconds = np.array([float(r["duration"]) for r in rows])
    fbank = Fbank()
    frames = np.array([fbank.num_frames(round(s * 16000)) for s in seconds], dtype=np.float64)
    print(f"{len(rows)} utterances of {args.split}, {seconds.sum() / 3600:.2f} h, "
          f"{seconds.min():.2f}-{seconds.max():.2f} s (mean {seconds.mean():.2f} s); {args.epochs} epochs")
    setups = {
        f"fixed batch_size={args.batch_size}, random": dict(batch_size=args.batch_size, num_buckets=1),
        f"fixed batch_size={args.batch_size}, {args.num_buckets} buckets": dict(batch_size=args.batch_size,
                                                                              num_buckets=args.num_buckets),
        f"batch_seconds={args.batch_seconds:g}, {args.num_buckets} buckets": dict(batch_seconds=args.batch_seconds,
                                                                                num_buckets=args.num_buckets),
        f"batch_seconds={args.batch_seconds:g}, quadratic 30 s": dict(batch_seconds=args.batch_seconds,
                                                                     num_buckets=args.num_buckets,
                                                                     quadratic_duration=30.0),
    }
    results = {}
    for name, kwargs in setups.items():
        pad, count, size = epoch_stats(DurationBatchSampler(seconds, seed=0, **kwargs), frames, args.epochs)
        results[name] = pad
        print(f"  {name:<42} padding {pad:6.1%}  {count:6.0f} batches/epoch  {size:5.1f} utt/batch")
    base = results[next(iter(results))]
    best = min(list(results.values())[1:])
    print(f"padding ratio random / bucketed: {base / max(best, 1e-9):.1f}x; bucketed goal <= 5 %: "
          f"{'met' if best <= 0.05 else 'NOT met'} ({best:.1%})")


if __name__ == "__main__":
    main()
