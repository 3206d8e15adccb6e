"""Fill a loader's feature cache before training: every (utterance, speed factor) once, on all cores.

Why: with ``dataloader.feature_cache_gb`` alone, the frontend output of an (utterance, speed
factor) pair is computed the first time the pair is drawn, inside the training loop. With 5
speed factors most pairs come up only after several epochs, so the loader keeps decoding
audio and computing fbanks for half the run, and on a 2-core machine that work competes with
the training threads: a step of the digits conformer took 0.34 s with that work against 0.26 s
without it. icefall and lhotse recipes compute the features of the speed-perturbed copies
once, before training; this does the same in memory: one job per utterance (the audio is
decoded once for all its factors), run by single-threaded worker processes. The training
loop then only applies SpecAugment, normalisation and collation (~13 ms a batch of 32).

Turned on by ``dataloader.precompute_features`` (with ``feature_cache_gb > 0``). It fills the
cache up to its budget and stops there; a pipeline with additive noise (not cacheable) is
left as it is. ``dataloader.precompute_store`` also keeps the result on disk for later runs and
the other ranks (:mod:`vocalis.train.feature_store`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from vocalis.cpu_threads import single_threaded_worker
from vocalis.data.pipeline import speech_of, without_speech
from vocalis.train.feature_store import exclusive, load_into, save_from

if TYPE_CHECKING:
    from vocalis.train.data import PipelineDataset

log = logging.getLogger(__name__)

# Below this many utterances the worker start-up costs more than the features.
MIN_UTTERANCES_FOR_WORKERS = 64


class _UtteranceFeatures(Dataset):
    """Job ``j``: ``(index, fields, [(wave_key, (T, D) features), ...])`` for utterance ``indices[j]``."""

    def __init__(self, target: "PipelineDataset", indices: Sequence[int], wave_keys: list[tuple]):
        self.target, self.indices, self.wave_keys = target, list(indices), wave_keys

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int) -> tuple[int, dict, list[tuple[tuple, torch.Tensor]]]:
        index = self.indices[j]
        item = self.target.dataset[index]
        fields = without_speech(item)
        utt_id = str(fields.get("utt_id", "?"))
        pipeline = self.target.pipeline
        return index, fields, [(key, pipeline.frontend_features(speech_of(item), utt_id, None, key))
                               for key in self.wave_keys]


def _as_is(job):
    return job


def node_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_processes() -> int:
    """The cores this process may use, shared among the ranks of a multi-process run on this node."""
    return max(1, node_cores() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", 1))))


def precompute_features(target: "PipelineDataset", indices: Sequence[int], processes: int | None = None,
                        store: Path | None = None) -> int:
    """Put the frontend output of every ``(index, wave key)`` into ``target.cache``; returns the entries added.

    Args:
        target: a :class:`~vocalis.train.data.PipelineDataset` with a cache.
        indices: the dataset indices the loader will use (collect_stats' usable utterances).
        processes: worker processes (default: :func:`default_processes`, or every core of the node
            when computing for a ``store``); runs in this process when 1 or when there are fewer
            than ``MIN_UTTERANCES_FOR_WORKERS`` utterances.
        store: a :mod:`~vocalis.train.feature_store` file: loaded if it exists, else written after
            computing (under a lock, so the ranks of one node compute it once, while the others wait).

    The cached tensors are the ones the lazy path computes (:meth:`SpeechTextPipeline.frontend_features`
    with the same wave key), so training draws the same items either way.
    """
    if target.cache is None:
        raise ValueError("dataloader.precompute_features: true needs dataloader.feature_cache_gb > 0 (the in-memory "
                         "cache it fills); set feature_cache_gb (e.g. 2.0) or precompute_features: false")
    wave_keys = target.pipeline.wave_keys()
    if wave_keys is None:
        log.info("features not precomputed: the waveform augmentation (augment.noise) draws new values every epoch")
        return 0
    if store is None:
        return _compute(target, indices, wave_keys, processes)
    with exclusive(store):
        if store.is_file():
            return load_into(target, store, indices)
        # the node's other ranks wait on the lock, so their share of the cores is free
        added = _compute(target, indices, wave_keys, node_cores() if processes is None else processes)
        save_from(target, store, indices, wave_keys)
        return added


def _compute(target: "PipelineDataset", indices: Sequence[int], wave_keys: list[tuple], processes: int | None) -> int:
    """:func:`precompute_features` without a store: the missing entries, on worker processes."""
    processes = default_processes() if processes is None else int(processes)
    todo = [i for i in indices if any(target.cache.get((i, key)) is None for key in wave_keys)]
    jobs = _UtteranceFeatures(target, todo, wave_keys)
    workers = processes if processes > 1 and len(todo) >= MIN_UTTERANCES_FOR_WORKERS else 0
    # Its own generator: a DataLoader iterator draws its worker seed from the global torch RNG
    # otherwise, and the model built after the loaders would start from other weights.
    loader = DataLoader(jobs, batch_size=None, collate_fn=_as_is, num_workers=workers,
                        worker_init_fn=single_threaded_worker if workers else None,
                        generator=torch.Generator().manual_seed(0))
    start, added, full = time.monotonic(), 0, False
    for index, fields, features in loader:
        for key, feats in features:
            # clone: a tensor from a worker lives in shared memory, one open file per tensor
            if not target.cache.put((index, key), feats.clone() if workers else feats):
                full = True
                break
            added += 1
        target.remember_fields(index, fields)
        if full:
            break
    log.info("precomputed %d feature entries (%d utterances x %d wave key(s), %.2f GB) in %.1f s on %d process(es)%s",
             added, len(todo), len(wave_keys), target.cache.bytes / 2**30, time.monotonic() - start, max(workers, 1),
             "; the cache is full, the rest is computed when drawn" if full else "")
    return added
