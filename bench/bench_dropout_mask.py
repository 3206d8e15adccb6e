"""Dropout's mask (``keep_mask``) against the mask it replaced, side by side.

    python bench/bench_dropout_mask.py [--batches 10] [--rounds 4] [--threads 2]

The digits aug recipe's whole model (``egs3/digits/asr/conf/training_conformer_aug.yaml``: the
conformer encoder, the 3-block decoder, CTC and attention losses) runs forward + backward on
that recipe's epoch-0 batch shapes (:func:`bench_frame_rows.recipe_batches`). The reference
mask is the one :func:`~vocalis.tasks.asr.dropout.keep_mask` built until the fourteenth
session: its 64-bit words from torch's ``random_`` (a Mersenne Twister on one thread), the
comparison's bool result cast to the mask's dtype. The other side is ``keep_mask`` as it is
(SFC64 words, the comparison written in the mask's dtype). The two alternate batch by batch over
``--rounds`` rounds in one process. Prints the mask time at the recipe's two widths and the
model step time of each, and the ratios.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bench_frame_rows import RECIPE, recipe_batches
from vocalis.config.loading import load_config
from vocalis.tasks.asr import dropout
from vocalis.train.model_from_config import build_model


def earlier_mask(shape: torch.Size, p: float, dtype: torch.dtype,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """The reference: ``keep_mask`` before the fourteenth session."""
    n = shape.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-2**63, None, generator=generator)
    bits = words.view(torch.int16)[:n].view(shape)
    return (bits >= round(p * 65536) - 32768).to(dtype).mul_(1.0 / (1.0 - p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sources = {"earlier": earlier_mask, "keep_mask": dropout.keep_mask}

    for width in (144, 576):  # a residual branch and a feed-forward hidden layer of the recipe
        shape = torch.Size((32 * 40, width))
        times = {}
        for name, source in sources.items():
            source(shape, 0.1, torch.float32)
            start = time.perf_counter()
            for _ in range(100):
                source(shape, 0.1, torch.float32)
            times[name] = (time.perf_counter() - start) / 100
        print(f"mask {tuple(shape)}: earlier {times['earlier'] * 1e3:.3f} ms, "
              f"keep_mask {times['keep_mask'] * 1e3:.3f} ms -> {times['earlier'] / times['keep_mask']:.2f}x")

    cfg = load_config(RECIPE / "conf" / "training_conformer_aug.yaml", "training", RECIPE)
    shapes = recipe_batches(cfg, RECIPE / "data", args.batches)
    torch.manual_seed(0)
    model = build_model(cfg).train()  # through the task bridge, as the train stage builds it
    words = model.vocab_size - 1  # token ids 1 .. vocab - 2: no blank, no <sos/eos>
    batches = [(torch.randn(len(s), int(s.max()), 80), torch.from_numpy(s),
                torch.randint(1, words, (len(s), 8)), torch.full((len(s),), 8)) for s in shapes]

    def step(batch) -> float:
        start = time.perf_counter()
        model(*batch)[0].backward()
        model.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    times = {name: [] for name in sources}
    for source in sources.values():  # warm-up
        dropout.keep_mask = source
        step(batches[0])
    for _ in range(args.rounds):
        for batch in batches:
            for name, source in sources.items():
                dropout.keep_mask = source
                times[name].append(step(batch))
    ref, ours = (float(np.mean(times[k])) for k in sources)
    print(f"aug recipe model forward + backward per batch ({len(batches)} batches x {args.rounds} rounds, "
          f"{args.threads} threads): earlier mask {ref * 1e3:.1f} ms, keep_mask {ours * 1e3:.1f} ms -> {ref / ours:.3f}x")


if __name__ == "__main__":
    main()
