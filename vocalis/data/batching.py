"""Length-sorted batches: similar durations share a batch, so little compute goes to padding."""

from __future__ import annotations

import random
from typing import Iterator, Sequence

from torch.utils.data import Sampler


class SortedBatchSampler(Sampler[list[int]]):
    """Sort by length, cut into batches of ``batch_size``, shuffle batch order per epoch.

    Args:
        lengths: one length per item (frames or seconds), e.g. from collect_stats' feats_shape.
        batch_size: items per batch (the last batch may be smaller).
        shuffle: shuffle the order of batches each epoch (seeded by ``seed + epoch``).
        seed: base seed; call :meth:`set_epoch` before each epoch.
    """

    def __init__(self, lengths: Sequence[float], batch_size: int, shuffle: bool = True, seed: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
        self.batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        batches = list(self.batches)
        if self.shuffle:
            random.Random(self.seed + self.epoch).shuffle(batches)
        return iter(batches)
