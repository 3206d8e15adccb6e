"""collect_stats' shape files and the list of skipped utterances, read back for batching.

``<stats_dir>/<split>/feats_shape``: ``utt_id T,D`` per usable item, in dataset order.
``<stats_dir>/<split>/bad_utts``: ``index<TAB>utt_id<TAB>reason`` per item that could not
be read (absent or empty when none). Together they cover every dataset index once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["BAD_UTTS", "read_bad_utts", "read_split_frames", "read_split_utt_ids"]

BAD_UTTS = "bad_utts"


def read_bad_utts(stats_dir: str | Path, split: str) -> list[tuple[int, str, str]]:
    """``(index, utt_id, reason)`` of the items collect_stats skipped."""
    path = Path(stats_dir) / split / BAD_UTTS
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line:
            index, utt_id, reason = line.split("\t", 2)
            rows.append((int(index), utt_id, reason))
    return rows


def read_split_frames(stats_dir: str | Path, split: str, expected: int) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, frames)``: the usable dataset indices of ``split`` and their frame counts ``(N,)``.

    Raises:
        FileNotFoundError: collect_stats has not run.
        ValueError: the files do not cover the ``expected`` items (the data changed since).
    """
    path = _feats_shape(stats_dir, split)
    frames = np.array([int(line.split()[1].split(",")[0]) for line in path.read_text().splitlines() if line],
                      dtype=np.int64)
    bad = sorted(i for i, _, _ in read_bad_utts(stats_dir, split))
    if len(frames) + len(bad) != expected or (bad and (bad[0] < 0 or bad[-1] >= expected)):
        raise ValueError(f"{path} lists {len(frames)} utterances (+{len(bad)} skipped) but dataset.{split} has "
                         f"{expected}; the data changed since collect_stats ran: run collect_stats again")
    keep = np.ones(expected, dtype=bool)
    keep[bad] = False
    return np.flatnonzero(keep), frames


def read_split_utt_ids(stats_dir: str | Path, split: str) -> list[str]:
    """The utterance ids of the usable items of ``split``, in the order of :func:`read_split_frames`."""
    return [line.split()[0] for line in _feats_shape(stats_dir, split).read_text().splitlines() if line]


def _feats_shape(stats_dir: str | Path, split: str) -> Path:
    path = Path(stats_dir) / split / "feats_shape"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run the collect_stats stage first")
    return path
