"""Stage collect_stats: feature shapes per utterance and global mean/variance.

Writes, for the train and valid splits, ``<stats_dir>/<split>/feats_shape`` (``utt T,D``
per line, in dataset order), ``text_shape`` (``utt L``), ``bad_utts`` (``index<TAB>utt<TAB>reason``
for items whose audio could not be used) and, for train, ``feats_stats.npz`` with
``count``, ``sum`` and ``sum_square`` over all frames.

A bad file does not stop the run: it is skipped, logged and listed in ``bad_utts`` (the
train stage leaves it out). The stage fails only when more than
``collect_stats.max_bad_fraction`` of a split is bad, which usually means a wrong path or
format rather than a few broken files.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from vocalis.atomic_files import write_text_atomically
from vocalis.config.loading import to_plain
from vocalis.cpu_threads import single_threaded_worker
from vocalis.data.organizer import DataOrganizer
from vocalis.data.pipeline import SpeechTextPipeline, build_augmentation_of, build_frontend
from vocalis.data.shapes import BAD_UTTS, read_split_frames
from vocalis.data.tokenizer import Tokenizer
from vocalis.stages.context import RunContext
from vocalis.stages.markers import DoneMarker, fingerprint

log = logging.getLogger(__name__)


class _FeatureShapes(torch.utils.data.Dataset):
    """Items -> ``(index, utt_id, features (T, D) or None, number of tokens, error or None, statistics
    features)``; runs in workers. The statistics features are ``stats_pipeline``'s (waveform
    augmentation), or the shape features themselves."""

    def __init__(self, dataset, pipeline: SpeechTextPipeline, stats_pipeline: SpeechTextPipeline | None = None):
        self.dataset, self.pipeline, self.stats_pipeline = dataset, pipeline, stats_pipeline

    def __len__(self) -> int:
        return len(self.dataset)

    def _utt_id(self, index: int) -> str:
        utt_id = getattr(self.dataset, "utt_id", None)
        return utt_id(index) if callable(utt_id) else str(index)

    def __getitem__(self, index: int):
        try:
            raw = self.dataset[index]
            item = self.pipeline(raw)
            stats = self.stats_pipeline(raw)["speech"] if self.stats_pipeline is not None else item["speech"]
        except Exception as err:  # one broken file must not end the run; reported by the caller
            return index, self._utt_id(index), None, 0, f"{type(err).__name__}: {err}", None
        if item["speech"].shape[0] == 0:
            return (index, item["utt_id"], None, 0, "no feature frames: the audio is shorter than one frame of the "
                    "frontend; remove it from the data (it carries no speech)", None)
        text = item.get("text")
        n_tokens = int(text.shape[0]) if isinstance(text, torch.Tensor) else 0
        return index, item["utt_id"], item["speech"], n_tokens, None, stats


def _write_lines(path: Path, lines: list[str]) -> None:
    write_text_atomically(path, "".join(lines))


def _check_bad(bad: list[tuple[int, str, str]], total: int, max_bad_fraction: float, out_dir: Path) -> None:
    if not bad:
        return
    for index, utt_id, reason in bad[:20]:
        log.warning("collect_stats: skipped utterance %s (item %d): %s", utt_id, index, reason)
    log.warning("collect_stats: %d of %d utterances skipped; list in %s", len(bad), total, out_dir / BAD_UTTS)
    if len(bad) > max_bad_fraction * total:
        first = bad[0]
        raise RuntimeError(f"{len(bad)} of {total} utterances in {out_dir.name} could not be used (more than "
                           f"collect_stats.max_bad_fraction={max_bad_fraction}); first: utterance {first[1]}: "
                           f"{first[2]}. See {out_dir / BAD_UTTS}; fix the data, or raise max_bad_fraction to skip them")


def collect_split(dataset, pipeline: SpeechTextPipeline, out_dir: Path, num_workers: int, with_stats: bool,
                  max_bad_fraction: float = 0.01, stats_pipeline: SpeechTextPipeline | None = None) -> int:
    """Write the shape files, ``bad_utts`` (and statistics) of one split; returns the number of usable utterances.

    Shapes are ``pipeline``'s (clean: the batch sampler scales them by speed factors itself);
    statistics are ``stats_pipeline``'s when given (``augment.in_collect_stats``: waveform
    augmentation, epoch 0), else ``pipeline``'s.

    Raises:
        RuntimeError: more than ``max_bad_fraction`` of the split could not be read (nothing is written).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    loader = DataLoader(_FeatureShapes(dataset, pipeline, stats_pipeline), batch_size=None, num_workers=num_workers,
                        worker_init_fn=single_threaded_worker if num_workers else None)
    feats_shape, text_shape, bad = [], [], []
    total = total_sq = None
    count = 0
    for index, utt_id, feats, n_tokens, error, stats_feats in loader:
        if error is not None:
            bad.append((int(index), str(utt_id), error.replace("\n", " ").replace("\t", " ")))
            continue
        feats_shape.append(f"{utt_id} {','.join(str(d) for d in feats.shape)}\n")
        text_shape.append(f"{utt_id} {n_tokens}\n")
        if with_stats:
            f64 = stats_feats.to(torch.float64)
            total = f64.sum(0) if total is None else total + f64.sum(0)
            total_sq = (f64 * f64).sum(0) if total_sq is None else total_sq + (f64 * f64).sum(0)
            count += stats_feats.shape[0]
    _check_bad(bad, len(dataset), max_bad_fraction, out_dir)
    _write_lines(out_dir / BAD_UTTS, [f"{i}\t{u}\t{r}\n" for i, u, r in bad])
    _write_lines(out_dir / "feats_shape", feats_shape)
    _write_lines(out_dir / "text_shape", text_shape)
    if with_stats:
        tmp = out_dir / "feats_stats.partial.npz"
        np.savez(tmp, count=np.array(count), sum=total.numpy(), sum_square=total_sq.numpy())
        os.replace(tmp, out_dir / "feats_stats.npz")
    return len(feats_shape)


def read_lengths(stats_dir: str | Path, split: str, expected: int) -> list[int]:
    """Frame counts per item of ``split``, in dataset order (every item must be usable)."""
    indices, frames = read_split_frames(stats_dir, split, expected)
    if len(indices) != expected:
        raise ValueError(f"{stats_dir}/{split}: {expected - len(indices)} utterances were skipped by collect_stats; "
                         "use vocalis.data.shapes.read_split_frames to batch the usable ones")
    return frames.tolist()


def run(ctx: RunContext) -> None:
    cfg = ctx.config("training", "collect_stats")
    stats_dir = Path(cfg.stats_dir)
    tokenizer = Tokenizer.from_dir(cfg.tokenizer.save_path)
    augment = cfg.get("augment")
    augmented = bool(augment is not None and augment.get("in_collect_stats"))
    max_bad = float(cfg.collect_stats.get("max_bad_fraction", 0.01))
    fp = fingerprint(to_plain(cfg.dataset), to_plain(cfg.frontend) if cfg.get("frontend") else None,
                     tokenizer.token_list, to_plain(augment) if augmented else None, max_bad)
    marker = DoneMarker(stats_dir, "collect_stats")
    if marker.matches(fp):
        log.info("statistics in %s are up to date, skipping", stats_dir)
        return
    organizer = DataOrganizer(cfg.dataset, ctx.recipe_dir)
    clean = SpeechTextPipeline(build_frontend(cfg), None, tokenizer)
    workers = int(cfg.collect_stats.num_workers)
    augmentation = build_augmentation_of(cfg) if augmented else None  # None: the block asks for nothing
    waves = augmentation.waveform_only() if augmentation is not None else None
    for split in ("train", "valid"):
        stats = clean.with_augmentation(waves) if waves is not None and split == "train" else None
        n = collect_split(organizer.split(split), clean, stats_dir / split, workers, with_stats=split == "train",
                          max_bad_fraction=max_bad, stats_pipeline=stats)
        log.info("collect_stats: %d %s utterances -> %s%s", n, split, stats_dir / split,
                 " (statistics of the waveform-augmented features, epoch 0)" if stats is not None else "")
    marker.write(fp)
