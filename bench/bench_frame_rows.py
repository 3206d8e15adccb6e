"""Encoder blocks on the valid frames (FrameRows) against the padded computation, side by side.

    python bench/bench_frame_rows.py [--batches 12] [--rounds 3] [--threads 2]

The digits aug recipe's conformer encoder (``egs3/digits/asr/conf/training_conformer_aug.yaml``'s
``encoder_conf``) trains forward + backward on batches with that recipe's shapes: its sampler's
epoch-0 batches (32 utterances, clean-length buckets, the default) at their speed-perturbed
lengths, so about a fifth of each batch is padding. Features are random; only shapes matter.

The reference runs the same blocks with every frame declared valid (``FrameRows`` with every
length the batch's full length): the padded computation's cost, what the blocks did before they
skipped the padding. The two alternate batch by batch over ``--rounds`` rounds in one process,
so load from other users of the cores hits both alike. Prints the encoder step time of each and
the ratio.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from vocalis.data.augment import build_augmentation
from vocalis.data.duration_batching import DurationBatchSampler
from vocalis.data.features import Fbank
from vocalis.data.manifest import read_manifest
from vocalis.tasks.asr.conformer import ConformerEncoder
from vocalis.tasks.asr.frame_rows import FrameRows

RECIPE = Path(__file__).resolve().parent.parent / "egs3" / "digits" / "asr"


def recipe_batches(cfg, data: Path, count: int) -> list[np.ndarray]:
    """Frame counts ``(B,)`` of the recipe config ``cfg``'s first ``count`` epoch-0 batches, speed-perturbed."""
    rows = read_manifest(data / "manifest" / "train.tsv")
    seconds = np.array([float(r["duration"]) for r in rows])
    fbank = Fbank()
    frames = np.array([fbank.num_frames(round(s * 16000)) for s in seconds], dtype=np.float64)
    factors = build_augmentation(OmegaConf.create({"speed_perturb": list(cfg.augment.speed_perturb)}),
                                 seed=0).length_factors(0, [r["utt_id"] for r in rows])
    sampler = DurationBatchSampler(seconds, batch_size=int(cfg.dataloader.batch_size), seed=0)
    return [np.maximum(1, (frames[b] * factors[b]).astype(int)) for b in sampler.batches(0)[:count]]


def encoder_step(encoder: ConformerEncoder, feats: torch.Tensor, lengths: torch.Tensor, skip_padding: bool) -> float:
    """Forward + backward of ``encoder``'s front and blocks; seconds."""
    start = time.perf_counter()
    x, out_lengths = encoder.subsampling(feats, lengths)
    x, pos = encoder.pos(x)
    rows = FrameRows.from_lengths(out_lengths if skip_padding else torch.full_like(out_lengths, x.shape[1]),
                                  x.shape[1])
    h = rows.pack(x)
    for block in encoder.blocks:
        h = block(h, pos, rows)
    h.square().mean().backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(RECIPE / "data"),
                        help="a built digits data folder (python egs3/digits/asr/run.py --stages create_dataset)")
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    cfg = OmegaConf.load(RECIPE / "conf" / "training_conformer_aug.yaml")
    shapes = recipe_batches(cfg, Path(args.data), args.batches)
    padding = 1 - sum(int(s.sum()) for s in shapes) / sum(len(s) * int(s.max()) for s in shapes)
    enc_conf = OmegaConf.to_container(cfg.encoder_conf)
    torch.manual_seed(0)
    encoder = ConformerEncoder(input_size=80, **enc_conf).train()
    batches = [(torch.randn(len(s), int(s.max()), 80), torch.from_numpy(s)) for s in shapes]
    print(f"{len(batches)} batches of the aug recipe (epoch 0, speed-perturbed lengths): {padding:.1%} padding; "
          f"{args.threads} threads")
    encoder_step(encoder, *batches[0], True)  # warm-up
    encoder_step(encoder, *batches[0], False)
    times = {True: [], False: []}
    for _ in range(args.rounds):
        for feats, lengths in batches:
            for skip in (False, True):
                times[skip].append(encoder_step(encoder, feats, lengths, skip))
                encoder.zero_grad(set_to_none=True)
    padded, rows = (float(np.mean(times[k])) for k in (False, True))
    print(f"encoder forward + backward per batch: padded {padded * 1e3:.1f} ms, valid frames {rows * 1e3:.1f} ms "
          f"-> {padded / rows:.2f}x")


if __name__ == "__main__":
    main()
