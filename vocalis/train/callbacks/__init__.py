"""The Lightning callbacks the train stage assembles from training.yaml.

Always: top-k + ``last.ckpt`` checkpoints (``best_model_criterion``), a mid-epoch
``last.ckpt`` every ``checkpoint_every_n_steps`` optimizer steps, the RNG state (exact
resume), the training history (curves, summary). Optional: ``ema:`` and the recipe's own
``callbacks:`` (a list of ``_target_`` blocks, e.g. ``src.callbacks.MyCallback``).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from vocalis.config.instantiate import instantiate
from vocalis.config.loading import to_plain
from vocalis.train.callbacks.ema import EMACallback
from vocalis.train.callbacks.history import TrainingHistory
from vocalis.train.callbacks.rng_state import RngStateCallback

__all__ = ["EMACallback", "RngStateCallback", "TrainingHistory", "TrainCallbacks", "build_callbacks"]


class TrainCallbacks:
    """The callbacks of one run, with the ones the train stage reads afterwards by name."""

    def __init__(self, best: ModelCheckpoint, history: TrainingHistory, ema: EMACallback | None,
                 others: list[L.Callback]):
        self.best, self.history, self.ema, self.others = best, history, ema, others

    def all(self) -> list[L.Callback]:
        return [c for c in (self.history, self.ema) if c is not None] + self.others + [self.best]


def build_callbacks(cfg, exp_dir: Path) -> TrainCallbacks:
    ckpt_dir = exp_dir / "checkpoints"
    monitor, top_k, mode = cfg.best_model_criterion[0]
    if mode not in ("min", "max"):
        raise ValueError(f"best_model_criterion[0]: mode must be min or max, got {mode!r} (e.g. [valid/loss, 3, min])")
    best = ModelCheckpoint(dirpath=ckpt_dir, filename="epoch{epoch}_step{step}", auto_insert_metric_name=False,
                           monitor=monitor, mode=mode, save_top_k=int(top_k), save_last=True)
    others: list[L.Callback] = [RngStateCallback()]
    every = cfg.get("checkpoint_every_n_steps")
    if every:
        if int(every) < 1:
            raise ValueError(f"checkpoint_every_n_steps must be a positive number of steps or null, got {every}")
        # Overwrites checkpoints/last.ckpt (atomically) between epochs, so a resume starts mid-epoch.
        others.append(ModelCheckpoint(dirpath=ckpt_dir, filename="last", every_n_train_steps=int(every),
                                      save_top_k=1, enable_version_counter=False, save_on_train_epoch_end=False))
    ema = None
    if cfg.get("ema"):
        ema_cfg = to_plain(cfg.ema)
        unknown = sorted(set(ema_cfg) - {"decay"})
        if unknown:
            raise ValueError(f"ema.{unknown[0]}: unknown key; ema takes only decay (e.g. ema: {{decay: 0.999}})")
        ema = EMACallback(decay=float(ema_cfg.get("decay", 0.999)), path=exp_dir / "ema.pth")
    for i, node in enumerate(cfg.get("callbacks") or []):
        callback = instantiate(node, f"callbacks[{i}]")
        if not isinstance(callback, L.Callback):
            raise TypeError(f"callbacks[{i}]: {node._target_} built a {type(callback).__name__}, "
                            "not a lightning.Callback")
        others.append(callback)
    return TrainCallbacks(best, TrainingHistory(exp_dir / "history.json"), ema, others)
