"""Joint CTC/attention beam search: batch 1 vs batch 16 on a trained digits experiment.

Not a test: it prints RTF for both batch sizes, the speed-up and whether every hypothesis
is the same (it must be: an utterance decodes alike whatever it is batched with).

    python bench/bench_beam_batching.py --exp egs3/digits/asr/exp/training_conformer [--utts 300]

The experiment needs an attention decoder (e.g. conf/training_conformer.yaml).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from vocalis.data.manifest import ManifestDataset
from vocalis.infer.speech2text import Speech2Text


def decode(s2t: Speech2Text, waves: list, batch_size: int) -> tuple[list[str], float]:
    start = time.perf_counter()
    texts = []
    for lo in range(0, len(waves), batch_size):
        texts += [r["text"] for r in s2t.transcribe(waves[lo:lo + batch_size])]
    return texts, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp", type=Path, required=True, help="a trained experiment folder with a decoder")
    parser.add_argument("--split", default="test")
    parser.add_argument("--utts", type=int, default=300)
    parser.add_argument("--beam", type=int, default=10)
    parser.add_argument("--ctc_weight", type=float, default=0.3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    s2t = Speech2Text(args.exp, decode={"method": "beam", "beam_size": args.beam, "ctc_weight": args.ctc_weight})
    data = ManifestDataset(Path(s2t.cfg.data_dir) / "manifest", args.split)
    waves = [data[i]["speech"] for i in range(min(args.utts, len(data)))]
    audio = sum(len(w) for w in waves) / 16000
    decode(s2t, waves[:4], 4)  # warm-up
    rows = {}
    for batch_size in (1, 16):
        rows[batch_size] = decode(s2t, waves, batch_size)
    load = os.getloadavg()[0]
    print(f"\n{args.exp}: {len(waves)} utterances, {audio:.1f} s of audio, beam {args.beam}, ctc_weight "
          f"{args.ctc_weight}, {args.threads} threads, load average {load:.1f}\n")
    print("| batch | wall s | RTF |\n|---|---|---|")
    for batch_size, (_, wall) in rows.items():
        print(f"| {batch_size} | {wall:.2f} | {wall / audio:.4f} |")
    same = rows[1][0] == rows[16][0]
    print(f"\nbatch 16 vs batch 1: speed-up {rows[1][1] / rows[16][1]:.2f}x; identical hypotheses: {same}")


if __name__ == "__main__":
    main()
