"""The timed training step of bench_espnet.py. Both sides import it, Vocalis in this interpreter
and ``espnet_driver.py`` in the ESPnet venv, so both time the very same region. It uses torch only."""

from __future__ import annotations

import time
from typing import Any, Callable

import torch


def timed_steps(model: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any, batches: list,
                loss_of: Callable[[Any], torch.Tensor], features: Callable[[Any], Any] = lambda b: b,
                clip: float = 1.0, bf16: bool = False) -> dict:
    """Per batch: ``features`` (float32, e.g. a frontend outside the model), ``loss_of`` (the
    forward, under CPU bfloat16 autocast with ``bf16`` as Lightning's ``bf16-mixed`` runs it),
    backward, gradient clipping, optimizer and scheduler step. Returns ``{"times", "losses"}``,
    wall seconds and loss per step."""
    model.train()
    times, losses = [], []
    for batch in batches:
        start = time.perf_counter()
        inputs = features(batch)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16, cache_enabled=False):
            loss = loss_of(inputs)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
        losses.append(float(loss.detach()))
    return {"times": times, "losses": losses}
