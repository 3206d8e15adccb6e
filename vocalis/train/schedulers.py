"""Learning-rate schedules used by the built-in recipes."""

from __future__ import annotations

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
