"""Utterance rows shared by the corpus readers, and the dataset that loads them.

A row is a dict::

    {"utt_id": str, "audio": "<path>" or "<shell command> |", "text": str,
     "offset": seconds (0 = start), "duration": seconds or None (unknown),
     "excerpt": True when only ``offset .. offset + duration`` of the recording is the utterance}

``audio`` ending in ``|`` is a Kaldi-style pipe: the command's standard output (any
format soundfile reads, usually WAV) is the recording.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from vocalis.data.audio import AudioError, load_audio

__all__ = ["UtteranceDataset", "is_pipe", "read_pipe"]


def is_pipe(audio: str) -> bool:
    return audio.rstrip().endswith("|")


def read_pipe(command: str, utt_id: str, cwd: str | Path | None = None, timeout: float = 120.0) -> io.BytesIO:
    """Run a ``wav.scp`` pipe command (``sox a.flac -t wav - |``) and return its output as a file object."""
    cmd = command.rstrip()[:-1].strip()
    try:
        done = subprocess.run(cmd, shell=True, capture_output=True, cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise AudioError(f"utterance {utt_id}: pipe command timed out after {timeout:.0f} s: {cmd}") from err
    if done.returncode != 0 or not done.stdout:
        stderr = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AudioError(f"utterance {utt_id}: pipe command failed (exit {done.returncode}"
                         f"{': ' + stderr[-1] if stderr else ''}): {cmd}; check that the tool is installed "
                         "and the paths exist (relative paths start at the data folder)")
    return io.BytesIO(done.stdout)


class UtteranceDataset:
    """Items ``{"utt_id", "speech": float32 (N,), "text": str}`` from rows (see the module docstring).

    Args:
        rows: the utterances, in a fixed order.
        sample_rate: audio at another rate is resampled (``on_rate_mismatch="resample"``) or refused.
        cwd: folder that relative paths and pipe commands start from.
        multichannel: ``error``, ``mean`` or ``first`` (see :func:`vocalis.data.audio.load_audio`).
    """

    def __init__(self, rows: Sequence[dict], sample_rate: int = 16000, on_rate_mismatch: str = "resample",
                 cwd: str | Path | None = None, multichannel: str = "error"):
        self.rows = list(rows)
        self.sample_rate, self.on_rate_mismatch, self.multichannel = sample_rate, on_rate_mismatch, multichannel
        self.cwd = Path(cwd) if cwd is not None else None
        self._durations: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def _source(self, row: dict):
        audio = row["audio"]
        if is_pipe(audio):
            return read_pipe(audio, row["utt_id"], self.cwd)
        path = Path(audio)
        return path if path.is_absolute() or self.cwd is None else self.cwd / path

    def __getitem__(self, index: int) -> dict:
        row = self.rows[index]
        wave, _ = load_audio(self._source(row), self.sample_rate, utt_id=row["utt_id"],
                             on_rate_mismatch=self.on_rate_mismatch, multichannel=self.multichannel,
                             offset=float(row.get("offset") or 0.0),
                             duration=row.get("duration") if row.get("excerpt") else None)
        return {"utt_id": row["utt_id"], "speech": wave, "text": row["text"]}

    def utt_id(self, index: int) -> str:
        """Id of item ``index`` without reading audio."""
        return self.rows[index]["utt_id"]

    def get_text(self, index: int) -> str:
        """Transcript without reading audio (the tokenizer stage reads only this)."""
        return self.rows[index]["text"]

    def duration_of(self, index: int) -> float:
        """Seconds of one utterance: from the row, else the file header (pipes are run once)."""
        row = self.rows[index]
        if row.get("duration") is not None:
            return float(row["duration"])
        try:
            info = sf.info(self._source(row))
        except AudioError:
            raise
        except Exception as err:
            raise AudioError(f"utterance {row['utt_id']} ({row['audio']}): cannot read the audio header ({err})") from err
        return max(0.0, info.frames / info.samplerate - float(row.get("offset") or 0.0))

    def durations(self) -> np.ndarray:
        """Seconds per utterance ``(N,)``, for duration batching (computed once)."""
        if self._durations is None:
            self._durations = np.array([self.duration_of(i) for i in range(len(self))], dtype=np.float64)
        return self._durations
