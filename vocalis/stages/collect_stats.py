"""Stage collect_stats: feature shapes per utterance and global mean/variance.

Writes, for the train and valid splits, ``<stats_dir>/<split>/feats_shape`` (``utt T,D``
per line, in dataset order), ``text_shape`` (``utt L``) and, for train,
``feats_stats.npz`` with ``count``, ``sum`` and ``sum_square`` over all frames.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from vocalis.config.loading import to_plain
from vocalis.data.organizer import DataOrganizer
from vocalis.data.pipeline import SpeechTextPipeline, build_frontend
from vocalis.data.shapes import read_split_frames
from vocalis.data.tokenizer import Tokenizer
from vocalis.stages.context import RunContext
from vocalis.stages.markers import DoneMarker, fingerprint

log = logging.getLogger(__name__)


class _FeatureShapes(torch.utils.data.Dataset):
    """Items -> (utt_id, features (T, D), number of tokens); runs in DataLoader workers."""

    def __init__(self, dataset, pipeline: SpeechTextPipeline):
        self.dataset, self.pipeline = dataset, pipeline

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        item = self.pipeline(self.dataset[index])
        text = item.get("text")
        return item["utt_id"], item["speech"], int(text.shape[0]) if isinstance(text, torch.Tensor) else 0


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)


def _write_lines(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text("".join(lines), encoding="utf-8")
    os.replace(tmp, path)


def collect_split(dataset, pipeline: SpeechTextPipeline, out_dir: Path, num_workers: int, with_stats: bool) -> int:
    """Write the shape files (and statistics) of one split; returns the number of utterances."""
    out_dir.mkdir(parents=True, exist_ok=True)
    loader = DataLoader(_FeatureShapes(dataset, pipeline), batch_size=None, num_workers=num_workers,
                        worker_init_fn=_one_thread if num_workers else None)
    feats_shape, text_shape = [], []
    total = total_sq = None
    count = 0
    for utt_id, feats, n_tokens in loader:
        feats_shape.append(f"{utt_id} {','.join(str(d) for d in feats.shape)}\n")
        text_shape.append(f"{utt_id} {n_tokens}\n")
        if with_stats:
            f64 = feats.to(torch.float64)
            total = f64.sum(0) if total is None else total + f64.sum(0)
            total_sq = (f64 * f64).sum(0) if total_sq is None else total_sq + (f64 * f64).sum(0)
            count += feats.shape[0]
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
    fp = fingerprint(to_plain(cfg.dataset), to_plain(cfg.frontend) if cfg.get("frontend") else None,
                     tokenizer.token_list)
    marker = DoneMarker(stats_dir, "collect_stats")
    if marker.matches(fp):
        log.info("statistics in %s are up to date, skipping", stats_dir)
        return
    organizer = DataOrganizer(cfg.dataset, ctx.recipe_dir)
    pipeline = SpeechTextPipeline(build_frontend(cfg), None, tokenizer)
    workers = int(cfg.collect_stats.num_workers)
    for split in ("train", "valid"):
        n = collect_split(organizer.split(split), pipeline, stats_dir / split, workers, with_stats=split == "train")
        log.info("collect_stats: %d %s utterances -> %s", n, split, stats_dir / split)
    marker.write(fp)
