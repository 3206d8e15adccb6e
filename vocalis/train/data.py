"""DataLoaders for training: items through the pipeline, duration-bucketed batches, resumable.

:func:`build_loader` reads ``dataloader:`` and ``augment:`` of training.yaml. The train
split gets augmentation and per-epoch shuffling; valid gets neither. Utterances that
collect_stats skipped (unreadable audio, listed in ``<stats_dir>/<split>/bad_utts``)
are left out of the batches.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch.utils.data import DataLoader

from vocalis.config.schema import ConfigKeyError
from vocalis.cpu_threads import single_threaded_worker
from vocalis.data.augment import Augmentation
from vocalis.data.collate import collate
from vocalis.data.duration_batching import DurationBatchSampler
from vocalis.data.feature_cache import FeatureCache
from vocalis.data.pipeline import (SpeechTextPipeline, build_augmentation_of, build_frontend, speech_of,
                                   without_speech)
from vocalis.data.shapes import read_split_frames, read_split_utt_ids
from vocalis.train.feature_precompute import precompute_features
from vocalis.train.feature_store import store_file

log = logging.getLogger(__name__)


class PipelineDataset(torch.utils.data.Dataset):
    """``dataset[i]`` passed through the pipeline (features, augmentation, normalisation, token ids).

    Keys are an index or ``(index, epoch)``; the epoch seeds the train-time augmentation.
    With ``cache_gb > 0`` the frontend output of each (utterance, speed factor) is kept in
    memory (:mod:`vocalis.data.feature_cache`): later epochs neither read the audio nor
    recompute the fbank, and give the same items as without the cache.
    """

    def __init__(self, dataset, pipeline: SpeechTextPipeline, cache_gb: float = 0.0):
        self.dataset, self.pipeline = dataset, pipeline
        self.cache = FeatureCache(cache_gb) if cache_gb > 0 else None
        self._fields: dict[int, dict] = {}  # index -> the item without its waveform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        if self.cache is None:
            return self.pipeline(self.dataset[index], epoch=epoch)
        item = None
        fields = self._fields.get(index)
        if fields is None:
            item = self.dataset[index]
            fields = without_speech(item)
        utt_id = str(fields.get("utt_id", "?"))
        rng, wave_key = self.pipeline.draw(utt_id, epoch)
        feats = self.cache.get((index, wave_key)) if wave_key is not None else None
        if feats is None:
            item = item if item is not None else self.dataset[index]
            feats = self.pipeline.frontend_features(speech_of(item), utt_id, rng, wave_key)
            if wave_key is not None:
                self.cache.put((index, wave_key), feats)
                self.remember_fields(index, fields)
        return self.pipeline.with_text(fields, self.pipeline.finish_features(feats, rng))

    def remember_fields(self, index: int, fields: dict) -> None:
        """Keep item ``index`` without its waveform, so a cached item needs no dataset read."""
        self._fields[index] = fields

    def fields_of(self, index: int) -> dict:
        """Item ``index`` without its waveform, as :meth:`remember_fields` kept it."""
        return self._fields[index]


class _EpochTagged:
    """Batch sampler view that yields ``[(index, epoch), ...]`` so workers know the epoch.

    Lightning calls ``batch_sampler.sampler.set_epoch(epoch)`` before every epoch: ``sampler``
    is this view itself, and ``on_set_epoch`` (set by :class:`BatchLoader`) hears the epoch.
    """

    def __init__(self, sampler: DurationBatchSampler):
        self.durations_sampler = sampler
        self.sampler = self
        self.on_set_epoch: Callable[[int], None] | None = None

    def set_epoch(self, epoch: int) -> None:
        if self.on_set_epoch is not None:
            self.on_set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.durations_sampler)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch = self.durations_sampler.epoch
        for batch in self.durations_sampler:
            yield [(i, epoch) for i in batch]


class BatchLoader(DataLoader):
    """A DataLoader that advances the epoch itself and can save and restore its place.

    Each ``iter()`` plays one epoch (0, 1, 2, ...) of the batch sampler. ``state_dict()``
    holds the epoch and the number of batches handed out; after ``load_state_dict`` the
    next ``iter()`` continues that epoch after those batches, without reading them.
    Lightning stores this state in its checkpoints (it saves any loader with
    ``state_dict``), so a run resumed from a mid-epoch checkpoint trains exactly the
    batches after the saved step (tests/data/test_loader_resume_lightning.py).
    """

    def __init__(self, dataset: PipelineDataset, sampler: DurationBatchSampler, **kwargs: Any):
        tagged = _EpochTagged(sampler)
        super().__init__(dataset, batch_sampler=tagged, **kwargs)
        tagged.on_set_epoch = self.set_epoch
        self.durations_sampler = sampler
        self._epoch, self._delivered, self._fresh = sampler.epoch, 0, True

    def set_epoch(self, epoch: int) -> None:
        """The trainer's epoch, told before each one starts (Lightning, through the batch sampler).

        A run resumed from an end-of-epoch checkpoint gets no loader state from Lightning (it only
        restores mid-epoch), so without this the loader would play epoch 0's batches and
        augmentation again. A restored mid-epoch place in the same epoch is kept.
        """
        if self._fresh and epoch != self._epoch:
            self._epoch, self._delivered = epoch, 0

    def __iter__(self) -> Iterator[dict]:
        if not self._fresh:  # a new epoch (the previous one ended or was abandoned)
            self._epoch, self._delivered = self._epoch + 1, 0
        self._fresh = False
        self.durations_sampler.set_epoch(self._epoch)
        self.durations_sampler.load_state_dict({"epoch": self._epoch, "batches_consumed": self._delivered,
                                                "seed": self.durations_sampler.seed})
        for batch in super().__iter__():
            self._delivered += 1
            yield batch
        self._epoch, self._delivered, self._fresh = self._epoch + 1, 0, True

    def state_dict(self) -> dict:
        """``{"epoch", "batches_consumed", "seed"}``; a fully consumed epoch reads as the next one at 0.

        (Lightning may checkpoint after the last batch but before the iterator is exhausted.)
        """
        epoch, delivered = self._epoch, self._delivered
        if delivered and delivered >= len(self.durations_sampler.batches(epoch)):
            epoch, delivered = epoch + 1, 0
        return {"epoch": epoch, "batches_consumed": delivered, "seed": self.durations_sampler.seed}

    def load_state_dict(self, state: dict) -> None:
        self.durations_sampler.load_state_dict(state)
        self._epoch, self._delivered, self._fresh = int(state["epoch"]), int(state["batches_consumed"]), True


def seconds_per_frame(cfg: Any) -> float | None:
    """Seconds per row of collect_stats' ``feats_shape``: the frontend's frame shift (or 1 / rate)."""
    frontend = build_frontend(cfg)
    if frontend is None:
        return None
    if hasattr(frontend, "frame_shift") and hasattr(frontend, "sample_rate"):
        return float(frontend.frame_shift) / float(frontend.sample_rate)
    return None


def split_durations(cfg: Any, dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, seconds)`` of the usable items of ``split``.

    Frame counts come from collect_stats (which also lists skipped items); they are turned
    into seconds with the frontend's frame shift, or replaced by ``dataset.durations()``
    when the frontend has no frame shift (e.g. raw waveforms).
    """
    indices, frames = read_split_frames(cfg.stats_dir, split, len(dataset))
    per_frame = seconds_per_frame(cfg)
    if per_frame is not None:
        return indices, frames * per_frame
    if not hasattr(dataset, "durations"):
        raise ValueError(f"dataset.{split}: the frontend has no frame shift and the dataset has no durations(); "
                         "give the dataset a durations() method (seconds per item) for duration batching")
    return indices, np.asarray(dataset.durations(), dtype=np.float64)[indices]


def build_sampler(dl: Any, indices: np.ndarray, seconds: np.ndarray, train: bool, seed: int,
                  length_factors: Callable[[int], np.ndarray] | None = None) -> DurationBatchSampler:
    """The batch sampler that ``dataloader:`` describes (``batch_seconds`` wins over ``batch_size``)."""
    batch_seconds = dl.get("batch_seconds")
    return DurationBatchSampler(
        seconds, batch_seconds=float(batch_seconds) if batch_seconds else None,
        batch_size=None if batch_seconds else int(dl.batch_size),
        num_buckets=int(dl.get("num_buckets", 30)) if dl.get("sort_by_length", True) else 1,
        quadratic_duration=dl.get("quadratic_duration"), max_batch_size=dl.get("max_batch_size"),
        shuffle=train and bool(dl.shuffle), seed=seed, indices=indices, length_factors=length_factors)


def augmented_length_factors(cfg: Any, split: str, augmentation: Augmentation | None,
                             count: int) -> Callable[[int], np.ndarray] | None:
    """``epoch -> (N,)`` length factors of the usable items of ``split`` under ``augmentation`` (speed
    perturbation), for bucketing by the lengths the model gets; None when nothing changes a length
    or ``dataloader.bucket_augmented_lengths`` is false."""
    wanted = cfg.dataloader.get("bucket_augmented_lengths", False)
    if augmentation is None or not augmentation.changes_length or not wanted:
        return None
    utt_ids = read_split_utt_ids(cfg.stats_dir, split)
    if len(utt_ids) != count:
        raise ValueError(f"{cfg.stats_dir}/{split}/feats_shape lists {len(utt_ids)} utterances, expected {count}: "
                         "run collect_stats again")
    return functools.partial(augmentation.length_factors, utt_ids=utt_ids)


def feature_store_file(cfg: Any, split: str, indices: np.ndarray, seconds: np.ndarray,
                       pipeline: SpeechTextPipeline) -> Path | None:
    """Where ``dataloader.precompute_store`` keeps the precomputed features of ``split``
    (:mod:`vocalis.train.feature_store`), named by what they depend on: the frontend, the
    split's data source, the cacheable waveform augmentation of ``pipeline`` (speed factors)
    and the usable utterances with their durations. None when the features are not cacheable."""
    wave_keys = pipeline.wave_keys()
    if wave_keys is None:
        return None
    nodes = [cfg.get("frontend"), cfg.dataset.get(split)]
    key = "\n".join([*(OmegaConf.to_yaml(n, resolve=True) if isinstance(n, (DictConfig, ListConfig)) else repr(n)
                       for n in nodes),
                     repr(wave_keys), repr(indices.tolist()), repr(np.round(seconds, 4).tolist())])
    return store_file(Path(cfg.stats_dir) / "features", split, key)


def build_loader(dataset, pipeline: SpeechTextPipeline, cfg: Any, split: str, seed: int | None = None) -> BatchLoader:
    """The loader of ``split`` (``train`` augments and shuffles; others do neither).

    Args:
        dataset: the split from the DataOrganizer.
        pipeline: the clean pipeline (:func:`vocalis.data.pipeline.build_pipeline`).
        cfg: the whole training config (``dataloader``, ``augment``, ``stats_dir``, ``seed``).
    """
    train = split == "train"
    if train and float(getattr(pipeline.frontend, "dither", 0.0) or 0.0) > 0:
        raise ConfigKeyError(f"frontend.dither: {pipeline.frontend.dither} would not be applied: the frontend runs "
                             "in eval mode, so training features are a function of (seed, epoch, utterance) and "
                             "can be cached; set frontend.dither: 0, and add train-time noise with augment.noise")
    seed = int(cfg.get("seed", 0)) if seed is None else int(seed)
    indices, seconds = split_durations(cfg, dataset, split)
    if len(indices) < len(dataset):
        log.warning("dataset.%s: %d of %d utterances were skipped by collect_stats (see %s/%s/bad_utts)", split,
                    len(dataset) - len(indices), len(dataset), cfg.stats_dir, split)
    augmentation = build_augmentation_of(cfg) if train else None
    sampler = build_sampler(cfg.dataloader, indices, seconds, train, seed,
                            augmented_length_factors(cfg, split, augmentation, len(indices)))
    if train:
        pipeline = pipeline.with_augmentation(augmentation)
    workers = int(cfg.dataloader.num_workers)
    cache_gb = float(cfg.dataloader.get("feature_cache_gb", 0.0) or 0.0)
    items = PipelineDataset(dataset, pipeline, cache_gb)
    if cfg.dataloader.get("precompute_features", False):
        log.info("dataset.%s: precomputing features", split)
        store = feature_store_file(cfg, split, indices, seconds, pipeline) if cfg.dataloader.get(
            "precompute_store", False) else None
        precompute_features(items, indices.tolist(), store=store)
    # Loader workers are forked after this, so each starts with the filled cache.
    return BatchLoader(items, sampler, collate_fn=collate, num_workers=workers,
                       persistent_workers=workers > 0, worker_init_fn=single_threaded_worker if workers else None)
