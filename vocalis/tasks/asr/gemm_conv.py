"""A strided 2-D convolution computed as one matrix product on CPU (channels-last).

The conv front's second convolution (256 -> 256 channels, 3x3, stride 2) is most of a
small encoder's arithmetic. oneDNN runs its forward near the CPU's matrix-multiply speed
but its weight gradient at about half of it: on a 2-core AVX-512 Xeon, for two 2.2 s
utterances, 15.9 ms against 7.4 ms for the same arithmetic as one ``torch.mm``.

Without padding or dilation, the patches of a channels-last input ``x (B, H, W, C)`` are a
strided view ``(B, H', W', kh, kw, C)`` of it, so

    forward:      y (B H' W', O)       = patches (B H' W', kh kw C) @ weight (kh kw C, O)
    weight grad:  dW (O, kh kw C)      = dy^T (O, B H' W') @ patches
    input grad:   oneDNN's channels-last backward-data (as fast as its forward)

and ``weight``'s channels-last memory order ``(O, kh, kw, C)`` is already the matrix order,
so neither weights nor outputs are reordered. Inputs whose patch matrix would pass
:data:`PATCH_BYTES` go in blocks of output rows. An input gathered in one block keeps its patch
matrix for the weight gradient, at ``kh kw / (sh sw)`` = 2.25x the input's memory (its
training step is 2 % faster on the bench model: the gather is a copy of 17 MB per
2-utterance chunk). Blocked inputs are gathered again in the backward pass.

Calls that need no weight gradient (decoding, a frozen front) run oneDNN's forward: it runs
near the matrix-product speed on the Xeon (above) and 1.2-1.25x faster than the product on a
Zen 4, where torch's MKL runs float32 products at 165-175 GFLOP/s and oneDNN at 205-215 (one
2.6 s utterance: 6.9 against 8.5 ms). That made the bench's CTC greedy decoding 1.1x faster
there.
"""

from __future__ import annotations

import torch
from torch import nn

from vocalis.tasks.asr.autocast_function import apply_autocast

# below this many input or output channels oneDNN's channels-last convolution is the faster one
# (forward + backward on the 2-core AVX-512 Xeon: 32 channels, 5x5 stride 3, 8 against 28 ms;
# 144 channels 50 against 74 ms; 256 channels, 3x3 stride 2, 35 against 30 ms and a 7 % faster
# bench training step): gathering patches copies runs of only C floats, and a matrix product
# with few output columns runs far below the matmul rate
GEMM_MIN_CHANNELS = 256
PATCH_BYTES = 64 * 2**20  # largest patch matrix gathered at once; longer inputs go in blocks of output rows


def _output_size(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int]) -> tuple[int, int]:
    """``(H', W')`` of an unpadded convolution over ``x (B, C, H, W)``."""
    return (x.shape[2] - kernel[0]) // stride[0] + 1, (x.shape[3] - kernel[1]) // stride[1] + 1


def _patches(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int]) -> torch.Tensor:
    """``x (B, C, H, W)`` with channels-last strides -> ``(B * H' * W', kh * kw * C)`` (a copy)."""
    b, c = x.shape[:2]
    (kh, kw), (sh, sw) = kernel, stride
    oh, ow = _output_size(x, kernel, stride)
    rows = x.permute(0, 2, 3, 1)  # (B, H, W, C), a view of the channels-last memory
    s_b, s_h, s_w, _ = rows.stride()
    view = rows.as_strided((b, oh, ow, kh, kw, c), (s_b, sh * s_h, sw * s_w, s_h, s_w, 1), rows.storage_offset())
    return view.reshape(b * oh * ow, kh * kw * c)


def _row_blocks(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int]) -> list[torch.Tensor]:
    """``x (B, C, H, W)`` cut along H into overlapping views whose patch matrices stay under
    :data:`PATCH_BYTES` (one view, ``x`` itself, for inputs of up to ~40 s of audio in a
    256-channel front); their outputs are consecutive blocks of the output rows."""
    b, c = x.shape[:2]
    (kh, kw), sh = kernel, stride[0]
    oh, ow = _output_size(x, kernel, stride)
    row_bytes = b * ow * kh * kw * c * x.element_size()  # patch bytes per output row
    per_block = max(1, PATCH_BYTES // row_bytes)
    if per_block >= oh:
        return [x]
    return [x[:, :, r * sh:(min(oh, r + per_block) - 1) * sh + kh] for r in range(0, oh, per_block)]


def _project(cols: torch.Tensor, w_rows: torch.Tensor, bias: torch.Tensor | None,
             out: torch.Tensor | None = None) -> torch.Tensor:
    """``cols (M, kh kw C) @ w_rows (O, kh kw C)^T (+ bias)`` -> ``(M, O)``, into ``out`` if given."""
    if bias is None:
        return torch.mm(cols, w_rows.t(), out=out)
    return torch.addmm(bias, cols, w_rows.t(), out=out)


class _GemmConv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, stride):  # x (B, C, H, W) channels-last
        b = x.shape[0]
        o, _, kh, kw = weight.shape
        w_rows = weight.permute(0, 2, 3, 1).reshape(o, -1)  # (O, kh kw C), a view when channels-last
        # the output is allocated channels-last and each block's product written into it: the
        # Function returns a tensor of its own, not a view, so a following ReLU may run in place
        y = torch.empty((b, o, *_output_size(x, (kh, kw), stride)), dtype=x.dtype, device=x.device,
                        memory_format=torch.channels_last)
        y_rows = y.permute(0, 2, 3, 1)  # (B, H', W', O), contiguous
        row = 0
        blocks = _row_blocks(x, (kh, kw), stride)
        for part in blocks:
            cols = _patches(part, (kh, kw), stride)  # (B H'_block W', kh kw C)
            rows = _output_size(part, (kh, kw), stride)[0]
            block = y_rows[:, row:row + rows]
            if block.is_contiguous():
                _project(cols, w_rows, bias, out=block.view(-1, o))
            else:
                block.copy_(_project(cols, w_rows, bias).view(block.shape))
            row += rows
        ctx.save_for_backward(x, weight, *([cols] if len(blocks) == 1 else []))
        ctx.stride, ctx.has_bias = stride, bias is not None
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x, weight, *kept = ctx.saved_tensors  # kept: the patch matrix of a one-block input
        o, c, kh, kw = weight.shape
        grad_y = grad_y.contiguous(memory_format=torch.channels_last)
        g_rows = grad_y.permute(0, 2, 3, 1)  # (B, H', W', O)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.ops.aten.convolution_backward(
                grad_y, x, weight, None, list(ctx.stride), [0, 0], [1, 1], False, [0, 0], 1,
                [True, False, False])[0]
        if ctx.needs_input_grad[1]:
            row = 0
            for part in _row_blocks(x, (kh, kw), ctx.stride):
                cols = kept[0] if kept else _patches(part, (kh, kw), ctx.stride)
                rows = _output_size(part, (kh, kw), ctx.stride)[0]  # output rows of this block
                g = g_rows[:, row:row + rows].reshape(-1, o).t()  # (O, B H'_block W')
                grad_w = g @ cols if grad_w is None else grad_w.addmm_(g, cols)
                row += rows
            grad_w = grad_w.view(o, kh, kw, c).permute(0, 3, 1, 2)  # (O, C, kh, kw) channels-last
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g_rows.sum((0, 1, 2))
        return grad_x, grad_w, grad_b, None


class GemmConv2d(nn.Conv2d):
    """``nn.Conv2d`` (no padding, dilation or groups) that runs on CPU as :mod:`one matrix
    product <vocalis.tasks.asr.gemm_conv>`; ``(B, C, H, W) -> (B, O, H', W')`` channels-last.

    Same parameters and state-dict keys as ``nn.Conv2d``, whose own forward it uses on other
    devices, below :data:`GEMM_MIN_CHANNELS` channels and for calls that need no weight
    gradient. Keep its weight channels-last (``module.to(memory_format=torch.channels_last)``):
    the output is channels-last through it.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int], bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, stride, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and (x.shape[2] < self.kernel_size[0] or x.shape[3] < self.kernel_size[1]):
            raise ValueError(f"GemmConv2d: input {tuple(x.shape)} is smaller than the kernel "
                             f"{tuple(self.kernel_size)} in height or width")
        if (x.dim() != 4 or x.device.type != "cpu" or not x.is_floating_point() or x.numel() == 0
                or min(self.in_channels, self.out_channels) < GEMM_MIN_CHANNELS
                or not (torch.is_grad_enabled() and self.weight.requires_grad)):  # the product pays off in dW only
            return super().forward(x)
        x = x.contiguous(memory_format=torch.channels_last)
        weight = self.weight.contiguous(memory_format=torch.channels_last)
        return apply_autocast(_GemmConv2dFunction, x, weight, self.bias, self.stride)
