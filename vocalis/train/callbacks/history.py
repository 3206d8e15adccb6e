"""What happened during training, kept across resumes: per-step train losses, per-epoch
validation metrics and times (:mod:`vocalis.train.callbacks.epoch_timer`), wall time and
skipped batches. Saved in Lightning checkpoints (so a
resumed run's curves and wall time include the part before the interruption) and written
to ``exp_dir/history.json`` after every validation and at the end of fit (rank 0).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

from vocalis.atomic_files import write_text_atomically
from vocalis.train.callbacks.epoch_timer import EpochTimer


def _number(value: Any) -> float | None:
    if isinstance(value, torch.Tensor):
        value = value.detach().float().item() if value.numel() == 1 else None
    return float(value) if isinstance(value, (int, float)) else None


def write_json(data: Any, path: Path) -> None:
    """Atomic JSON write (a reader never sees half a file)."""
    write_text_atomically(path, json.dumps(data, indent=1, allow_nan=True))


class TrainingHistory(L.Callback):
    """Records ``train`` (``[global_step, loss]`` per optimised batch) and ``valid``
    (``{"step", "epoch", <metric>: value}`` per validation, sanity check excluded) and
    ``epochs`` (``{"epoch", "steps", "train_seconds", "data_wait_seconds", "valid_seconds"}``)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self.train: list[list[float]] = []
        self.valid: list[dict[str, float]] = []
        self.skipped = 0  # batches skipped for a non-finite loss
        self.elapsed_before = 0.0  # seconds spent by earlier (interrupted) runs
        self._t0 = time.monotonic()
        self.timer = EpochTimer()

    @property
    def wall_seconds(self) -> float:
        return self.elapsed_before + time.monotonic() - self._t0

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._t0 = time.monotonic()

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.timer.epoch_start()

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.timer.batch_start()

    def on_validation_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.timer.validation_start()

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.timer.epoch_end(trainer.current_epoch)
        self.write(trainer)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.timer.batch_end()
        loss = _number(outputs.get("loss")) if isinstance(outputs, dict) else _number(outputs)
        if loss is None or (isinstance(outputs, dict) and outputs.get("nonfinite")):  # skipped (non-finite loss)
            self.skipped += 1
        else:
            self.train.append([trainer.global_step, loss])

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self.timer.validation_end()
        row: dict[str, float] = {"step": trainer.global_step, "epoch": trainer.current_epoch}
        for key, value in trainer.callback_metrics.items():
            number = _number(value)
            if key.startswith("valid/") and number is not None:
                row[key] = number
        self.valid.append(row)
        self.write(trainer)

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.write(trainer)

    def write(self, trainer: L.Trainer) -> None:
        if self.path is not None and trainer.is_global_zero:
            write_json(self.as_dict(), self.path)

    def as_dict(self) -> dict:
        return {"train": self.train, "valid": self.valid, "epochs": self.timer.rows, "skipped": self.skipped,
                "wall_seconds": round(self.wall_seconds, 3)}

    def state_dict(self) -> dict:
        return {"train": self.train, "valid": self.valid, "epochs": self.timer.rows, "skipped": self.skipped,
                "elapsed": self.wall_seconds}

    def load_state_dict(self, state: dict) -> None:
        self.train, self.valid, self.skipped = list(state["train"]), list(state["valid"]), int(state["skipped"])
        self.timer.rows = list(state.get("epochs", []))  # checkpoints from before epoch timing have none
        self.elapsed_before, self._t0 = float(state["elapsed"]), time.monotonic()


def best_valid(history: dict, monitor: str, mode: str) -> dict | None:
    """The validation row with the best ``monitor`` value."""
    rows = [r for r in history["valid"] if monitor in r and not math.isnan(r[monitor])]
    if not rows:
        return None
    return (min if mode == "min" else max)(rows, key=lambda r: r[monitor])
