"""The CPU Dropout: right keep rate and scale, reproducible, plain nn.Dropout elsewhere."""

import threading

import pytest
import torch
from torch import nn

from vocalis.tasks.asr.dropout import Dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_keep_rate_and_scale(p):
    torch.manual_seed(0)
    mask = keep_mask(torch.Size([1000, 1000]), p, torch.float32)
    kept = mask > 0
    # 1e6 Bernoulli draws: the standard error of the kept fraction is < 5e-4
    assert abs(kept.float().mean().item() - (1 - p)) < 2.5e-3
    assert torch.allclose(mask[kept], torch.tensor(1 / (1 - p)))
    # neighbouring elements (lanes of one 64-bit draw) are independent
    a, b = kept.flatten()[0::2].float(), kept.flatten()[1::2].float()
    assert abs((a * b).mean().item() - (1 - p) ** 2) < 2.5e-3


def test_training_forward_and_gradient_use_one_mask():
    torch.manual_seed(1)
    layer = Dropout(0.2).train()
    x = torch.randn(8, 50, 64, requires_grad=True)
    y = layer(x)
    y.sum().backward()
    kept = y != 0
    assert torch.allclose(y[kept], x[kept] / 0.8)
    assert torch.allclose(x.grad, kept.float() / 0.8)  # d y / d x is the mask itself
    assert 0.7 < kept.float().mean().item() < 0.9


def test_seeded_runs_repeat_and_differ_between_calls():
    layer = Dropout(0.1).train()
    x = torch.ones(4, 100)
    torch.manual_seed(3)
    first, second = layer(x), layer(x)
    torch.manual_seed(3)
    assert torch.equal(layer(x), first)
    assert not torch.equal(first, second)


def test_eval_zero_and_one():
    x = torch.randn(3, 7)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))


def test_is_an_nn_dropout_with_no_state():
    layer = Dropout(0.1)
    assert isinstance(layer, nn.Dropout)
    assert layer.state_dict() == {}


def test_masks_follow_an_explicit_generator_on_any_thread():
    shape = torch.Size([64, 96])
    first = keep_mask(shape, 0.1, torch.float32, torch.Generator().manual_seed(7))
    second = keep_mask(shape, 0.1, torch.float32, torch.Generator().manual_seed(8))
    assert not torch.equal(first, second)
    found = {}
    thread = threading.Thread(target=lambda: found.setdefault(
        "mask", keep_mask(shape, 0.1, torch.float32, torch.Generator().manual_seed(7))))
    thread.start()
    thread.join()
    assert torch.equal(found["mask"], first)  # each thread has its own stream, seeded the same way


def test_consecutive_masks_are_uncorrelated():
    torch.manual_seed(0)
    a, b = ((keep_mask(torch.Size([1000, 1000]), 0.5, torch.float32) > 0).float() for _ in range(2))
    assert abs((a * b).mean().item() - 0.25) < 2.5e-3  # one stream per call, each seeded afresh
