"""Feature extraction + loading throughput: Vocalis' Fbank vs kaldi-native-fbank on the same files.

Prints utterances/s and x real time for loading alone, features alone and both, for each
implementation, and the ratio ours / reference, in one run::

    python bench/bench_features.py --num 500

Both run single-threaded (``torch.set_num_threads(1)``) on the same decoded waveforms;
the first utterance's features are compared so the two compute the same thing.
Nothing is written.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from vocalis.data.audio import load_audio
from vocalis.data.features import Fbank
from vocalis.data.manifest import read_manifest


def kaldi_native_fbank(wave: np.ndarray, n_mels: int) -> np.ndarray:
    """Reference features ``(T, n_mels)`` with the options Fbank defaults to (dither 0, povey, snip_edges)."""
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.mel_opts.num_bins = n_mels
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(16000, wave * 32768.0)
    fbank.input_finished()
    return np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])


def timed(fn, items) -> tuple[float, list]:
    start = time.perf_counter()
    out = [fn(x) for x in items]
    return time.perf_counter() - start, out


def report(name: str, seconds: float, n: int, audio_s: float) -> None:
    print(f"  {name:<34} {n / seconds:9.1f} utt/s {audio_s / seconds:9.1f} x real time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parent.parent / "egs3/digits/asr/data"),
                        help="a built digits data folder (python egs3/digits/asr/run.py --stages create_dataset)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--num", type=int, default=500, help="utterances (from the start of the manifest)")
    parser.add_argument("--n-mels", type=int, default=80)
    args = parser.parse_args()
    torch.set_num_threads(1)

    rows = read_manifest(Path(args.data) / "manifest" / f"{args.split}.tsv")[: args.num]
    paths = [r["path"] for r in rows]
    load_s, waves = timed(lambda p: load_audio(p, 16000)[0], paths)
    audio_s = sum(len(w) for w in waves) / 16000
    fbank = Fbank(n_mels=args.n_mels).eval()
    with torch.inference_mode():
        fbank(waves[0])  # warm-up
        ours_s, ours = timed(lambda w: fbank(w), waves)
    kaldi_native_fbank(waves[0], args.n_mels)
    ref_s, ref = timed(lambda w: kaldi_native_fbank(w, args.n_mels), waves)
    diff = max(float(np.abs(o.numpy() - r).max()) for o, r in zip(ours[:20], ref[:20]))

    print(f"{len(waves)} utterances, {audio_s:.1f} s of audio ({args.data}/{args.split}), 1 thread; "
          f"max |ours - kaldi-native-fbank| over 20 utterances = {diff:.2e}")
    report("loading (soundfile FLAC)", load_s, len(waves), audio_s)
    report("features: vocalis Fbank", ours_s, len(waves), audio_s)
    report("features: kaldi-native-fbank", ref_s, len(waves), audio_s)
    report("loading + vocalis Fbank", load_s + ours_s, len(waves), audio_s)
    report("loading + kaldi-native-fbank", load_s + ref_s, len(waves), audio_s)
    print(f"speed ratio vocalis / kaldi-native-fbank: features {ref_s / ours_s:.2f}x, "
          f"loading + features {(load_s + ref_s) / (load_s + ours_s):.2f}x (>1 means vocalis is faster)")


if __name__ == "__main__":
    main()
