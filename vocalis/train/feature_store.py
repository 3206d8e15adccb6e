"""Precomputed features kept on disk, so later runs and the other ranks of a run load them instead of recomputing.

:func:`~vocalis.train.feature_precompute.precompute_features` fills a loader's in-memory cache
before training. Without a store every training run does that again (38 s for the digits
corpus at 5 speed factors on a 2-core AVX2 EPYC), and in a multi-process (DDP) run every rank
does it again for the whole split, each on its share of the cores. With ``store_dir`` the first
process to get the lock computes and writes one file; the others, and later runs, map it
(``torch.load(mmap=True)``), so ranks and loader workers on a node share one copy in the page cache.

The file name is a fingerprint of what the features depend on (``key``, built by the caller
from the frontend and augmentation config and the split's utterances and durations) plus
:data:`FORMAT`. Bump ``FORMAT`` when the frontend or speed-perturbation code changes its output; a
user who replaces audio files in place under the same ids and durations deletes the folder
(``<stats_dir>/features``).

Layout of a store file (``torch.save``): ``data`` ``(sum T, D)`` all features concatenated,
``entries`` ``[(index, wave_key, start, frames), ...]`` and ``fields`` ``{index: item without its
waveform}``. Written to a temporary name and renamed, so a cut-off run leaves no half file.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import torch

if TYPE_CHECKING:
    from vocalis.train.data import PipelineDataset

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the stored features of the same config would differ (frontend or resampling code)


def store_file(store_dir: Path, split: str, key: str) -> Path:
    """``<store_dir>/<split>-<sha256 of key and FORMAT, 16 hex>.pt``."""
    digest = hashlib.sha256(f"{FORMAT}\n{key}".encode()).hexdigest()[:16]
    return Path(store_dir) / f"{split}-{digest}.pt"


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (processes of one node wait for each other)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load_into(target: "PipelineDataset", path: Path, indices: Sequence[int]) -> int:
    """Put the stored features of ``indices`` into ``target.cache``; returns the entries added.

    Raises:
        ValueError: the file lacks an utterance of ``indices`` (it was written for another list).
    """
    start = time.monotonic()
    stored = torch.load(path, mmap=True, weights_only=False)  # our own file; fields may hold any item value
    wanted = set(indices)
    missing = wanted - set(stored["fields"])
    if missing:
        raise ValueError(f"feature store {path} lacks {len(missing)} utterance(s) of this split (e.g. index "
                         f"{min(missing)}); delete it and run again to recompute")
    data, added = stored["data"], 0
    for index, wave_key, begin, frames in stored["entries"]:
        if index in wanted and target.cache.get((index, wave_key)) is None:
            if not target.cache.put((index, wave_key), data[begin:begin + frames]):
                break
            added += 1
    for index in wanted:
        target.remember_fields(index, stored["fields"][index])
    log.info("loaded %d precomputed feature entries from %s in %.1f s", added, path, time.monotonic() - start)
    return added


def save_from(target: "PipelineDataset", path: Path, indices: Sequence[int], wave_keys: list[tuple]) -> bool:
    """Write the cached features of every ``(index, wave key)`` to ``path``; False (nothing written)
    when some are not in the cache (its budget was spent)."""
    tensors, entries, begin = [], [], 0
    for index in indices:
        for key in wave_keys:
            feats = target.cache.get((index, key))
            if feats is None:
                log.info("feature store not written: the cache holds only part of the split "
                         "(raise dataloader.feature_cache_gb to keep all of it)")
                return False
            tensors.append(feats)
            entries.append((index, key, begin, feats.shape[0]))
            begin += feats.shape[0]
    start = time.monotonic()
    blob = {"format": FORMAT, "data": torch.cat(tensors) if tensors else torch.empty(0), "entries": entries,
            "fields": {index: target.fields_of(index) for index in indices}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(blob, tmp)
        os.replace(tmp, path)
    except OSError as err:  # training goes on from the cache in memory; only later runs lose the shortcut
        tmp.unlink(missing_ok=True)
        log.warning("feature store %s not written (%s): free disk space there, or set dataloader.precompute_store: "
                    "false", path, err)
        return False
    log.info("wrote %d precomputed feature entries (%.2f GB) to %s in %.1f s", len(entries),
             blob["data"].numel() * blob["data"].element_size() / 2**30, path, time.monotonic() - start)
    return True
