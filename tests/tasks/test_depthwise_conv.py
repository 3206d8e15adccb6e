"""DepthwiseConv1d equals nn.Conv1d (same padding, groups = channels) in output and every gradient."""

import pytest
import torch
from torch import nn

from vocalis.tasks.asr.depthwise_conv import DepthwiseConv1d, DepthwiseConv1dFunction


@pytest.mark.parametrize("batch,channels,frames,kernel", [(4, 16, 31, 15), (3, 8, 5, 15), (2, 12, 40, 3),
                                                          (1, 4, 1, 31)])
def test_matches_nn_conv1d(batch, channels, frames, kernel):
    torch.manual_seed(0)
    ours = DepthwiseConv1d(channels, kernel)
    ref = nn.Conv1d(channels, channels, kernel, padding=kernel // 2, groups=channels)
    ref.load_state_dict(ours.state_dict())  # same parameter names and shapes
    x = torch.randn(batch, channels, frames, requires_grad=True)
    grad = torch.randn(batch, channels, frames)
    y, y_ref = ours(x), ref(x)
    got = torch.autograd.grad(y, (x, ours.weight, ours.bias), grad)
    want = torch.autograd.grad(y_ref, (x, ref.weight, ref.bias), grad)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


def test_gradcheck_float64_without_bias():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 1, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: DepthwiseConv1dFunction.apply(a, b, None), (x, w))


def test_even_kernel_is_refused():
    with pytest.raises(ValueError, match="odd"):
        DepthwiseConv1d(8, 4)


def test_under_bfloat16_autocast_it_computes_and_backpropagates_as_nn_conv1d_does():
    torch.manual_seed(0)
    ours = DepthwiseConv1d(8, 15)
    ref = nn.Conv1d(8, 8, 15, padding=7, groups=8)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(3, 8, 40, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, y_ref = ours(x), ref(x)
    assert y.dtype == y_ref.dtype == torch.bfloat16
    grad = torch.randn_like(y_ref)
    got = torch.autograd.grad(y, (x, ours.weight, ours.bias), grad)
    want = torch.autograd.grad(y_ref, (x, ref.weight, ref.bias), grad)
    torch.testing.assert_close(y, y_ref, rtol=2e-2, atol=2e-2)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype == torch.float32
        torch.testing.assert_close(g, w, rtol=2e-2, atol=5e-2)


def test_float64_inputs_stay_float64_under_autocast_as_nn_conv1d_does():
    ours = DepthwiseConv1d(4, 3).double()
    ref = nn.Conv1d(4, 4, 3, padding=1, groups=4).double()
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 4, 10, dtype=torch.float64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, y_ref = ours(x), ref(x)
    assert y.dtype == y_ref.dtype == torch.float64
    torch.testing.assert_close(y, y_ref)
