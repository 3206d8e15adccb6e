"""Learning-rate schedules used by the built-in recipes."""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR


class WarmupLR(LambdaLR):
    """Noam warm-up (ESPnet's WarmupLR): linear rise for ``warmup_steps``, then ``step^-0.5`` decay.

    The peak learning rate, reached at ``warmup_steps``, is the optimizer's ``lr``.
    Step it every optimizer step (``scheduler_interval: step``).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, warmup_steps: int = 25000, last_epoch: int = -1):
        if warmup_steps < 1:
            raise ValueError(f"warmup_steps must be >= 1, got {warmup_steps}")
        self.warmup_steps = warmup_steps

        def factor(step: int) -> float:
            step += 1
            return warmup_steps**0.5 * min(step**-0.5, step * warmup_steps**-1.5)

        super().__init__(optimizer, factor, last_epoch)


class WarmupCosineLR(LambdaLR):
    """Linear warm-up for ``warmup_steps``, then a half-cosine from ``lr`` down to ``min_lr_ratio * lr``.

    The decay ends at ``total_steps`` (count optimizer steps: epochs x batches per epoch, the
    ``N/N`` in the progress bar); later steps stay at the floor. For a short, fixed budget this
    ends training at a low learning rate, where the Noam decay of :class:`WarmupLR` is still at
    ``sqrt(warmup / step)`` of the peak, so the last checkpoints are less noisy to average.
    Step it every optimizer step (``scheduler_interval: step``).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                 min_lr_ratio: float = 0.0, last_epoch: int = -1):
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(f"need 0 <= warmup_steps < total_steps, got warmup_steps={warmup_steps}, "
                             f"total_steps={total_steps}")
        if not 0.0 <= min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio}")
        self.warmup_steps, self.total_steps, self.min_lr_ratio = warmup_steps, total_steps, min_lr_ratio

        def factor(step: int) -> float:
            if step < warmup_steps:
                return (step + 1) / warmup_steps
            progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
            return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

        super().__init__(optimizer, factor, last_epoch)
