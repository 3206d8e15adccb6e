"""Where an epoch's wall time goes: optimised steps, waiting for batches, validation.

ESPnet logs ``iter_time`` / ``train_time`` per epoch; this is the same question answered
per epoch in one line of ``train.log``::

    epoch 3: 94 steps in 38.2 s (0.406 s/step, 7 % waiting for batches), validation 2.1 s

"waiting for batches" is the time between the end of one training batch and the start of
the next: the data loader (feature extraction, augmentation, collation) plus Lightning's
bookkeeping between steps. Above ~10 % the data side is the bottleneck: raise
``dataloader.num_workers`` or ``dataloader.feature_cache_gb``. The first epoch of a run
with a feature cache also fills the cache, so compare later epochs.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("vocalis.train")


class EpochTimer:
    """Accumulates one epoch's times from the Lightning hooks that :class:`TrainingHistory` forwards."""

    def __init__(self):
        self.rows: list[dict] = []
        self._reset(time.monotonic())

    def _reset(self, now: float) -> None:
        self._start = self._last_end = now
        self._steps, self._wait, self._valid, self._valid_start = 0, 0.0, 0.0, None

    def epoch_start(self) -> None:
        self._reset(time.monotonic())

    def batch_start(self) -> None:
        self._wait += time.monotonic() - self._last_end

    def batch_end(self) -> None:
        self._steps += 1
        self._last_end = time.monotonic()

    def validation_start(self) -> None:
        self._valid_start = time.monotonic()

    def validation_end(self) -> None:
        if self._valid_start is not None:
            self._valid += time.monotonic() - self._valid_start
            self._valid_start = None

    def epoch_end(self, epoch: int) -> dict:
        """Close the epoch: its row (also appended to :attr:`rows`) and its ``train.log`` line."""
        total = time.monotonic() - self._start
        train = max(total - self._valid, 0.0)
        row = {"epoch": epoch, "steps": self._steps, "train_seconds": round(train, 3),
               "data_wait_seconds": round(self._wait, 3), "valid_seconds": round(self._valid, 3)}
        self.rows.append(row)
        log.info("%s", epoch_line(row))
        return row


def epoch_line(row: dict) -> str:
    """``epoch N: <epoch_timing(row)>``."""
    return f"epoch {row['epoch'] + 1}: {epoch_timing(row)}"


def epoch_timing(row: dict) -> str:
    """``S steps in X s (Y s/step, Z % waiting for batches), validation V s``."""
    steps, train = row["steps"], row["train_seconds"]
    per_step = f"{train / steps:.3f} s/step, " if steps else ""
    wait = 100.0 * row["data_wait_seconds"] / train if train > 0 else 0.0
    return (f"{steps} steps in {train:.1f} s ({per_step}{wait:.0f} % waiting for batches), "
            f"validation {row['valid_seconds']:.1f} s")
