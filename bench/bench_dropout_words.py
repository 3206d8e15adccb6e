"""Dropout's random bits from numpy's SFC64 against torch's Mersenne Twister, side by side.

    python bench/bench_dropout_words.py [--batches 10] [--rounds 4] [--threads 2]

The digits aug recipe's whole model (``egs3/digits/asr/conf/training_conformer_aug.yaml``: the
conformer encoder, the 3-block decoder, CTC and attention losses) runs forward + backward on
that recipe's epoch-0 batch shapes (:func:`bench_frame_rows.recipe_batches`). The reference
draws :func:`~vocalis.tasks.asr.dropout.keep_mask`'s 64-bit words with torch's ``random_``
(what the mask did before); the other side with :func:`~vocalis.tasks.asr.dropout.random_words`.
The two alternate batch by batch over ``--rounds`` rounds in one process. Prints the mask time
at the recipe's two widths and the model step time of each, and the ratios.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from omegaconf import OmegaConf

from bench_frame_rows import RECIPE, recipe_batches
from vocalis.tasks.asr import dropout
from vocalis.tasks.asr.conformer import ConformerEncoder
from vocalis.tasks.asr.decoder import TransformerDecoder
from vocalis.tasks.asr.hybrid_model import HybridCTCAttentionModel

VOCAB = 14  # the recipe's word tokens: blank, unk, 11 words, sos/eos


def build_model(cfg) -> HybridCTCAttentionModel:
    """The recipe's model from its ``encoder_conf``, ``decoder_conf`` and ``model_conf``."""
    enc_conf = OmegaConf.to_container(cfg.encoder_conf)
    encoder = ConformerEncoder(input_size=80, **enc_conf)
    decoder = TransformerDecoder(VOCAB, enc_conf["output_size"], **OmegaConf.to_container(cfg.decoder_conf))
    return HybridCTCAttentionModel(VOCAB, encoder, decoder, **OmegaConf.to_container(cfg.model_conf))


def torch_words(count: int, generator: torch.Generator | None = None) -> np.ndarray:
    """The reference: ``count`` words from torch's CPU generator (Mersenne Twister, one thread)."""
    return torch.empty(count, dtype=torch.int64).random_(-2**63, None, generator=generator).numpy().view(np.uint64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sources = {"torch random_": torch_words, "SFC64": dropout.random_words}

    for width in (144, 576):  # a residual branch and a feed-forward hidden layer of the recipe
        shape = torch.Size((32 * 40, width))
        times = {}
        for name, source in sources.items():
            dropout.random_words = source
            dropout.keep_mask(shape, 0.1, torch.float32)
            start = time.perf_counter()
            for _ in range(100):
                dropout.keep_mask(shape, 0.1, torch.float32)
            times[name] = (time.perf_counter() - start) / 100
        print(f"keep_mask {tuple(shape)}: torch random_ {times['torch random_'] * 1e3:.3f} ms, "
              f"SFC64 {times['SFC64'] * 1e3:.3f} ms -> {times['torch random_'] / times['SFC64']:.2f}x")

    cfg = OmegaConf.load(RECIPE / "conf" / "training_conformer_aug.yaml")
    shapes = recipe_batches(cfg, RECIPE / "data", args.batches)
    torch.manual_seed(0)
    model = build_model(cfg).train()
    batches = [(torch.randn(len(s), int(s.max()), 80), torch.from_numpy(s),
                torch.randint(1, 13, (len(s), 8)), torch.full((len(s),), 8)) for s in shapes]

    def step(batch) -> float:
        start = time.perf_counter()
        model(*batch)[0].backward()
        model.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    times = {name: [] for name in sources}
    for name, source in sources.items():  # warm-up
        dropout.random_words = source
        step(batches[0])
    for _ in range(args.rounds):
        for batch in batches:
            for name, source in sources.items():
                dropout.random_words = source
                times[name].append(step(batch))
    ref, ours = (float(np.mean(times[k])) for k in sources)
    print(f"aug recipe model forward + backward per batch ({len(batches)} batches x {args.rounds} rounds, "
          f"{args.threads} threads): torch random_ {ref * 1e3:.1f} ms, SFC64 {ours * 1e3:.1f} ms -> {ref / ours:.3f}x")


if __name__ == "__main__":
    main()
