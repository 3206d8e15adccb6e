"""Padding fraction of one training epoch: duration bucketing vs fixed-size batches.

Padding fraction = 1 - real frames / (batch size x longest utterance), summed over the
epoch's batches (what the encoder computes on zeros). Goal: <= 5 % with bucketing::

    python bench/bench_batching.py

Frame counts come from the manifest's durations (10 ms frames, as collect_stats writes
them). Averaged over ``--epochs`` shuffled epochs. Nothing is written.

With speed perturbation (``--speed-perturb``, the digits aug recipe's factors by default)
each utterance is stretched by its own drawn factor every epoch. The second table
compares buckets of the clean lengths with buckets of those perturbed lengths
(``dataloader.bucket_augmented_lengths``), both measured on the perturbed lengths.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from omegaconf import OmegaConf

from vocalis.data.augment import build_augmentation
from vocalis.data.duration_batching import DurationBatchSampler, padding_fraction
from vocalis.data.features import Fbank
from vocalis.data.manifest import read_manifest


def epoch_stats(sampler: DurationBatchSampler, frames: np.ndarray, epochs: int,
                frames_of_epoch=None) -> tuple[float, float, float]:
    """Mean padding fraction, batches per epoch and items per batch (``frames_of_epoch(e)``: the
    lengths the model gets in epoch ``e``, default ``frames``)."""
    pads, counts, sizes = [], [], []
    for epoch in range(epochs):
        batches = sampler.batches(epoch)
        pads.append(padding_fraction(batches, frames if frames_of_epoch is None else frames_of_epoch(epoch)))
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
    parser.add_argument("--speed-perturb", type=float, nargs="*", default=[0.8, 0.9, 1.0, 1.1, 1.2],
                        help="speed factors for the second table (none: skip it)")
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
    if args.speed_perturb:
        speed_table(args, seconds, frames, [r["utt_id"] for r in rows])


def speed_table(args: argparse.Namespace, seconds: np.ndarray, frames: np.ndarray, utt_ids: list[str]) -> None:
    """Padding of speed-perturbed epochs: buckets of clean lengths vs of the perturbed ones."""
    augmentation = build_augmentation(OmegaConf.create({"speed_perturb": args.speed_perturb}), seed=0)
    factors = {epoch: augmentation.length_factors(epoch, utt_ids) for epoch in range(args.epochs)}
    perturbed = {epoch: frames * f for epoch, f in factors.items()}
    print(f"speed perturbation {args.speed_perturb}, fixed batch_size={args.batch_size}, {args.num_buckets} buckets:")
    padded = {}
    for name, length_factors in (("clean lengths", None), ("perturbed lengths", factors.__getitem__)):
        sampler = DurationBatchSampler(seconds, batch_size=args.batch_size, num_buckets=args.num_buckets, seed=0,
                                       length_factors=length_factors)
        pad, _, _ = epoch_stats(sampler, frames, args.epochs, perturbed.__getitem__)
        padded[name] = sum(len(b) * perturbed[e][b].max() for e in range(args.epochs) for b in sampler.batches(e))
        print(f"  buckets of the {name:<20} padding {pad:6.1%}")
    print(f"padded frames, clean / perturbed-length buckets: {padded['clean lengths'] / padded['perturbed lengths']:.2f}x "
          "(what the encoder computes)")


if __name__ == "__main__":
    main()
