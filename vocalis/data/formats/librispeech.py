"""LibriSpeech layout: ``<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac``.

Each chapter folder holds ``<speaker>-<chapter>.trans.txt`` with ``UTTID TRANSCRIPT``
lines (upper case, no punctuation). Point the reader at one subset folder (e.g.
``LibriSpeech/train-clean-100``); utterances come sorted by id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import soundfile as sf

from .base import UtteranceDataset

__all__ = ["Dataset", "LibriSpeechDataset", "read_librispeech"]

LAYOUT = ("<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac with "
          "<speaker>-<chapter>.trans.txt beside them (as extracted from openslr.org/12)")


def read_librispeech(subset_dir: str | Path, with_durations: bool = True) -> list[dict]:
    """Rows ``{utt_id, audio, text, offset, duration}`` of one LibriSpeech subset folder.

    Raises:
        FileNotFoundError: the folder is missing or holds no transcripts (names the layout).
        ValueError: a transcript line without audio, or a malformed line (file and line number).
    """
    subset_dir = Path(subset_dir)
    if not subset_dir.is_dir():
        raise FileNotFoundError(f"LibriSpeech subset {subset_dir} does not exist; expected {LAYOUT}")
    transcripts = sorted(subset_dir.glob("*/*/*.trans.txt"))
    if not transcripts:
        raise FileNotFoundError(f"no */*/*.trans.txt under {subset_dir}; expected {LAYOUT}")
    rows = []
    for trans in transcripts:
        for lineno, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                raise ValueError(f"{trans}:{lineno}: expected 'UTTID TRANSCRIPT', got {line!r}")
            utt_id, text = parts
            audio = trans.parent / f"{utt_id}.flac"
            if not audio.is_file():
                raise ValueError(f"{trans}:{lineno}: {audio.name} is missing beside the transcript")
            duration = sf.info(str(audio)).duration if with_durations else None
            rows.append({"utt_id": utt_id, "audio": str(audio), "text": text.strip(), "offset": 0.0,
                         "duration": duration})
    return sorted(rows, key=lambda r: r["utt_id"])


class LibriSpeechDataset(UtteranceDataset):
    """One or more LibriSpeech subset folders as one dataset (items ``{"utt_id", "speech", "text"}``).

    Args:
        subset_dirs: e.g. ``/data/LibriSpeech/dev-clean`` or a list of such folders.
        sample_rate: LibriSpeech is 16 kHz; other rates are resampled.
    """

    def __init__(self, subset_dirs: str | Path | Sequence[str | Path], sample_rate: int = 16000):
        dirs = [subset_dirs] if isinstance(subset_dirs, (str, Path)) else list(subset_dirs)
        super().__init__([row for d in dirs for row in read_librispeech(d)], sample_rate)


Dataset = LibriSpeechDataset  # so ``data_src: vocalis.data.formats.librispeech`` works in a config
