"""Learning-rate schedules: the factor curve each one promises, step by step."""

import math

import pytest
import torch

from vocalis.train.schedulers import WarmupCosineLR, WarmupLR


def _lrs(scheduler_cls, steps: int, **kwargs) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = scheduler_cls(opt, **kwargs)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_warmup_lr_peaks_at_lr_after_warmup_then_decays_as_inverse_sqrt():
    lrs = _lrs(WarmupLR, 400, warmup_steps=100)
    assert lrs[0] == pytest.approx(2.0 / 100)
    assert lrs[99] == pytest.approx(2.0)
    assert lrs[399] == pytest.approx(2.0 * math.sqrt(100 / 400))


def test_warmup_cosine_rises_linearly_then_reaches_the_floor_at_total_steps_and_stays():
    lrs = _lrs(WarmupCosineLR, 130, warmup_steps=10, total_steps=110, min_lr_ratio=0.1)
    assert lrs[0] == pytest.approx(0.2)
    assert lrs[9] == pytest.approx(2.0)
    assert lrs[10] == pytest.approx(2.0)
    assert lrs[60] == pytest.approx(0.2 + 1.8 * 0.5)  # half-way down the cosine
    assert lrs[110] == pytest.approx(0.2) and lrs[129] == pytest.approx(0.2)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))


@pytest.mark.parametrize("kwargs", [dict(warmup_steps=100, total_steps=100), dict(warmup_steps=5, total_steps=50,
                                                                                   min_lr_ratio=1.5)])
def test_warmup_cosine_refuses_an_impossible_schedule(kwargs):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="warmup_steps|min_lr_ratio"):
        WarmupCosineLR(opt, **kwargs)
