"""E-Branchformer encoder (Kim et al., 2022): a global attention branch and a local cgMLP
branch in parallel, merged by a depthwise convolution, between two half-step feed-forwards.

Like the conformer's, the blocks run on the valid frames as rows ``(N, D)``
(:class:`~vocalis.tasks.asr.frame_rows.FrameRows`); the depthwise convolutions run on the padded
layout with zeros at the padding."""

from __future__ import annotations

import torch
from torch import nn

from vocalis.tasks.asr.attention import (RelPositionalEncoding, RelPositionMultiHeadAttention,
                                         RelPositionEncoder)
from vocalis.tasks.asr.conformer import FeedForward
from vocalis.tasks.asr.depthwise_conv import DepthwiseConv1d
from vocalis.tasks.asr.dropout import Dropout
from vocalis.tasks.asr.frame_rows import FrameRows
from vocalis.tasks.asr.subsampling import Conv2dSubsampling


class ConvolutionalGatingMLP(nn.Module):
    """cgMLP: ``Linear(D, U) -> GELU``, then half the channels gate the other half after a
    depthwise convolution over time; ``Linear(U/2, D)``. ``(N, D) -> (N, D)`` on the valid frames of ``rows``."""

    def __init__(self, d_model: int, units: int, kernel_size: int, dropout: float):
        super().__init__()
        if units % 2 or kernel_size % 2 == 0:
            raise ValueError(f"cgmlp_linear_units must be even and cgmlp_conv_kernel odd, got {units}, {kernel_size}")
        self.proj_in = nn.Sequential(nn.Linear(d_model, units), nn.GELU())
        self.gate_norm = nn.LayerNorm(units // 2)
        self.gate_conv = DepthwiseConv1d(units // 2, kernel_size)
        self.dropout = Dropout(dropout)
        self.proj_out = nn.Linear(units // 2, d_model)

    def forward(self, x: torch.Tensor, rows: FrameRows) -> torch.Tensor:
        content, gate = self.proj_in(x).chunk(2, dim=-1)  # (N, U/2) each
        gate = rows.over_time(self.gate_conv, self.gate_norm(gate))  # (N, U/2)
        return self.proj_out(self.dropout(content * gate))


class EBranchformerBlock(nn.Module):
    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, cgmlp_units: int, cgmlp_kernel: int,
                 merge_kernel: int, dropout: float, attention_dropout: float):
        super().__init__()
        self.ff1, self.ff2 = FeedForward(d_model, ffn_dim, dropout), FeedForward(d_model, ffn_dim, dropout)
        self.norm_att, self.norm_mlp = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.att = RelPositionMultiHeadAttention(d_model, num_heads, attention_dropout)
        self.cgmlp = ConvolutionalGatingMLP(d_model, cgmlp_units, cgmlp_kernel, dropout)
        self.merge_conv = DepthwiseConv1d(2 * d_model, merge_kernel)
        self.merge_proj = nn.Linear(2 * d_model, d_model)
        self.norm_out = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, rows: FrameRows) -> torch.Tensor:
        """``x (N, D)``: the valid frames of ``rows``; ``pos (1, 2T-1, D)``."""
        x = x + 0.5 * self.dropout(self.ff1(x))
        both = torch.cat([self.att(self.norm_att(x), pos, rows), self.cgmlp(self.norm_mlp(x), rows)], -1)  # (N, 2D)
        both = both + rows.over_time(self.merge_conv, both)
        x = x + self.dropout(self.merge_proj(both))
        x = x + 0.5 * self.dropout(self.ff2(x))
        return self.norm_out(x)


class EBranchformerEncoder(RelPositionEncoder):
    """``(B, T, F)`` features -> ``(B, T', output_size)`` encodings and ``(B,)`` lengths.

    Args mirror ESPnet2's ``encoder_conf`` for ``encoder: e_branchformer``.
    """

    def __init__(self, input_size: int = 80, output_size: int = 144, attention_heads: int = 4,
                 linear_units: int = 576, cgmlp_linear_units: int = 576, cgmlp_conv_kernel: int = 31,
                 merge_conv_kernel: int = 3, num_blocks: int = 4, dropout_rate: float = 0.1,
                 attention_dropout_rate: float = 0.0, subsampling_factor: int = 4,
                 subsampling_channels: int | None = None, interctc_layer_idx: list[int] | None = None,
                 interctc_use_conditioning: bool = False):
        super().__init__()
        self.output_size = output_size
        self._set_interctc(interctc_layer_idx, num_blocks, interctc_use_conditioning)
        self.subsampling = Conv2dSubsampling(input_size, output_size, subsampling_channels, subsampling_factor)
        self.pos = RelPositionalEncoding(output_size, dropout_rate)
        self.blocks = nn.ModuleList(
            EBranchformerBlock(output_size, attention_heads, linear_units, cgmlp_linear_units, cgmlp_conv_kernel,
                               merge_conv_kernel, dropout_rate, attention_dropout_rate) for _ in range(num_blocks))
