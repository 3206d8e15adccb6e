"""GemmConv2d equals nn.Conv2d in output and every gradient, and keeps nn.Conv2d's checkpoints."""

import pytest
import torch
from torch import nn

from vocalis.tasks.asr.gemm_conv import GemmConv2d, _GemmConv2dFunction
from vocalis.tasks.asr.subsampling import Conv2dSubsampling


@pytest.fixture(autouse=True)
def gemm_for_any_width(monkeypatch):
    """The small layers here take the matrix-product path (it is kept for >= 256 channels)."""
    monkeypatch.setattr("vocalis.tasks.asr.gemm_conv.GEMM_MIN_CHANNELS", 1)


@pytest.mark.parametrize("batch,channels,size,kernel,stride,bias", [
    (3, 16, (41, 23), 3, 2, True), (2, 8, (30, 19), 5, 3, True), (1, 4, (3, 3), 3, 2, False),
    (2, 6, (12, 9), (3, 2), (2, 1), True)])
def test_matches_nn_conv2d(batch, channels, size, kernel, stride, bias):
    torch.manual_seed(0)
    ours = GemmConv2d(channels, 12, kernel, stride, bias=bias).to(memory_format=torch.channels_last)
    ref = nn.Conv2d(channels, 12, kernel, stride, bias=bias)
    ref.load_state_dict(ours.state_dict())  # same parameter names and shapes
    x = torch.randn(batch, channels, *size, requires_grad=True)
    y, y_ref = ours(x), ref(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    grad = torch.randn_like(y_ref)
    params, ref_params = [x, *ours.parameters()], [x, *ref.parameters()]
    got, want = torch.autograd.grad(y, params, grad), torch.autograd.grad(y_ref, ref_params, grad)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


def test_gradcheck_float64():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64).contiguous(memory_format=torch.channels_last).requires_grad_()
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64).contiguous(memory_format=torch.channels_last).requires_grad_()
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: _GemmConv2dFunction.apply(*a, (2, 2)), (x, w, b))


def test_a_channels_first_checkpoint_loads_into_the_channels_last_front():
    torch.manual_seed(0)
    old = Conv2dSubsampling(80, 32, channels=16).to(memory_format=torch.contiguous_format)
    new = Conv2dSubsampling(80, 32, channels=16)
    new.load_state_dict(old.state_dict())
    assert new.conv[2].weight.is_contiguous(memory_format=torch.channels_last)  # stays the fast layout
    x, lengths = torch.randn(2, 50, 80), torch.tensor([50, 41])
    with torch.no_grad():
        torch.testing.assert_close(new(x, lengths)[0], old(x, lengths)[0], rtol=1e-5, atol=1e-6)


def test_a_decoded_utterance_gets_the_same_bits_alone_as_in_a_batch():
    """Without gradients the front takes one utterance at a time, so batching changes nothing."""
    torch.manual_seed(0)
    front = Conv2dSubsampling(80, 64).eval()
    x, lengths = torch.randn(4, 90, 80), torch.tensor([90, 83, 61, 90])
    with torch.no_grad():
        batch, out_lengths = front(x, lengths)
        for i in range(4):
            alone, _ = front(x[i:i + 1, : lengths[i]], lengths[i:i + 1])
            assert torch.equal(batch[i, : out_lengths[i]], alone[0])


def test_long_inputs_go_in_blocks_of_output_rows_with_the_same_result(monkeypatch):
    torch.manual_seed(0)
    ours = GemmConv2d(8, 6, 3, 2).to(memory_format=torch.channels_last)
    ref = nn.Conv2d(8, 6, 3, 2)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 8, 75, 11, requires_grad=True)
    grad = torch.randn(2, 6, 37, 5)
    want = [ref(x), *torch.autograd.grad(ref(x), [x, *ref.parameters()], grad)]
    row_bytes = 2 * 5 * 9 * 8 * 4  # patch bytes per output row
    monkeypatch.setattr("vocalis.tasks.asr.gemm_conv.PATCH_BYTES", 10 * row_bytes)  # 4 blocks: 10+10+10+7 rows
    y = ours(x)
    got = [y, *torch.autograd.grad(y, [x, *ours.parameters()], grad)]
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_an_input_smaller_than_the_kernel_is_refused_with_its_shape():
    with pytest.raises(ValueError, match=r"input \(1, 4, 2, 9\) is smaller than the kernel \(3, 3\)"):
        GemmConv2d(4, 4, 3, 2)(torch.randn(1, 4, 2, 9))


def test_narrow_layers_run_as_onednn_convolutions(monkeypatch):
    monkeypatch.setattr("vocalis.tasks.asr.gemm_conv.GEMM_MIN_CHANNELS", 256)
    x = torch.randn(1, 32, 9, 9, requires_grad=True)
    assert type(GemmConv2d(32, 32, 3, 2)(x).grad_fn).__name__ == "ConvolutionBackward0"
    assert type(GemmConv2d(256, 256, 3, 2)(torch.randn(1, 256, 9, 9)).grad_fn).__name__ == "_GemmConv2dFunctionBackward"


def test_the_front_with_in_place_relus_has_the_gradients_of_plain_convolutions():
    """The front's ReLUs run in place on GemmConv2d's output, which is its own tensor, not a view."""
    torch.manual_seed(0)
    front = Conv2dSubsampling(40, 16, channels=8)
    ref = nn.Sequential(nn.Conv2d(1, 8, 3, 2), nn.ReLU(), nn.Conv2d(8, 8, 3, 2), nn.ReLU())
    ref.load_state_dict(front.conv.state_dict())
    assert isinstance(front.conv[2], GemmConv2d) and front.conv[3].inplace
    x = torch.randn(3, 1, 30, 40)
    y, y_ref = front.conv(x), ref(x)
    grad = torch.randn_like(y_ref)
    got = torch.autograd.grad(y, list(front.conv.parameters()), grad)
    want = torch.autograd.grad(y_ref, list(ref.parameters()), grad)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)


def test_the_front_backpropagates_like_a_channels_first_one():
    """The front reorders its output's gradient to channels-last (a speed matter): same values."""
    torch.manual_seed(0)
    new = Conv2dSubsampling(40, 16, channels=8)
    old = Conv2dSubsampling(40, 16, channels=8).to(memory_format=torch.contiguous_format)
    old.load_state_dict(new.state_dict())
    x, lengths = torch.randn(3, 30, 40), torch.tensor([30, 25, 30])
    grad = torch.randn(3, 6, 16)
    got = torch.autograd.grad(new(x, lengths)[0], list(new.parameters()), grad)
    want = torch.autograd.grad(old(x, lengths)[0], list(old.parameters()), grad)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_under_bfloat16_autocast_it_computes_and_backpropagates_as_nn_conv2d_does():
    """Autocast does not cast a custom Function's inputs: without apply_autocast the forward
    mixed bfloat16 products with float32 weights and failed."""
    torch.manual_seed(0)
    ours = GemmConv2d(16, 12, 3, 2).to(memory_format=torch.channels_last)
    ref = nn.Conv2d(16, 12, 3, 2)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 16, 21, 13, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, y_ref = ours(x), ref(x)
    assert y.dtype == y_ref.dtype == torch.bfloat16
    grad = torch.randn_like(y_ref)
    got = torch.autograd.grad(y, [x, *ours.parameters()], grad)
    want = torch.autograd.grad(y_ref, [x, *ref.parameters()], grad)
    torch.testing.assert_close(y, y_ref, rtol=2e-2, atol=2e-2)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype == torch.float32  # gradients reach the float32 leaves through the casts
        torch.testing.assert_close(g, w, rtol=2e-2, atol=5e-2)


def test_calls_that_need_no_weight_gradient_run_onednns_forward(monkeypatch):
    """Decoding and frozen fronts only need the forward (and maybe the input gradient), where
    oneDNN's convolution is the faster one: the matrix product is kept for the weight gradient."""
    monkeypatch.setattr("vocalis.tasks.asr.gemm_conv.GEMM_MIN_CHANNELS", 8)
    torch.manual_seed(0)
    conv = GemmConv2d(8, 8, 3, 2).to(memory_format=torch.channels_last)
    ref = nn.Conv2d(8, 8, 3, 2)
    ref.load_state_dict(conv.state_dict())
    x = torch.randn(2, 8, 11, 9).contiguous(memory_format=torch.channels_last)

    def product(*args):
        raise AssertionError("the matrix product ran for a call that needs no weight gradient")

    with monkeypatch.context() as m:
        m.setattr(_GemmConv2dFunction, "apply", product)
        with torch.no_grad():
            torch.testing.assert_close(conv(x), ref(x))
        with torch.inference_mode():
            torch.testing.assert_close(conv(x), ref(x))
        conv.weight.requires_grad_(False)  # a frozen front whose input still needs its gradient
        ref.weight.requires_grad_(False)
        x_grad = x.clone().requires_grad_()
        got = torch.autograd.grad(conv(x_grad).sum(), [x_grad, conv.bias])
        want = torch.autograd.grad(ref(x_grad).sum(), [x_grad, ref.bias])
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w)
    conv.weight.requires_grad_(True)
    assert type(conv(x).grad_fn).__name__ == "_GemmConv2dFunctionBackward"
