"""Conformer encoder (Gulati et al., 2020) with relative-position self-attention.

Each block: half-step feed-forward, self-attention, convolution module, half-step
feed-forward, final LayerNorm (the macaron layout ESPnet and NeMo use).
"""

from __future__ import annotations

import torch
from torch import nn

from vocalis.tasks.asr.attention import (RelPositionalEncoding, RelPositionMultiHeadAttention,
                                         RelPositionEncoder)
from vocalis.tasks.asr.depthwise_conv import DepthwiseConv1d
from vocalis.tasks.asr.dropout import Dropout
from vocalis.tasks.asr.frame_rows import FrameRows
from vocalis.tasks.asr.subsampling import Conv2dSubsampling


class FeedForward(nn.Module):
    """``LayerNorm -> Linear(D, F) -> Swish -> Dropout -> Linear(F, D)``; ``(*, D) -> (*, D)``."""

    def __init__(self, d_model: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, ffn_dim), nn.SiLU(), Dropout(dropout),
                                 nn.Linear(ffn_dim, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvModule(nn.Module):
    """Pointwise conv + GLU, depthwise conv over time, norm, Swish, pointwise conv.

    ``forward(x (N, D), rows) -> (N, D)`` on the valid frames of
    :class:`~vocalis.tasks.asr.frame_rows.FrameRows` ``rows``. The pointwise convolutions run
    as matrix products on those rows (their ``nn.Conv1d`` parameters are kept, so checkpoints
    are ESPnet's layout); the depthwise convolution and the norm run on the padded
    ``(B, D, T)`` layout with zeros at the padding, so an utterance gives the same output in
    eval mode whatever it is batched with. In training, ``batch_norm``'s statistics count the
    padded frames too, as ESPnet's do.
    """

    def __init__(self, d_model: int, kernel_size: int = 15, norm: str = "batch_norm"):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"cnn_module_kernel must be odd, got {kernel_size}")
        self.norm_in = nn.LayerNorm(d_model)
        self.pointwise_in = nn.Conv1d(d_model, 2 * d_model, 1)
        self.depthwise = DepthwiseConv1d(d_model, kernel_size)
        self.norm = nn.BatchNorm1d(d_model) if norm == "batch_norm" else nn.GroupNorm(1, d_model)
        self.pointwise_out = nn.Conv1d(d_model, d_model, 1)

    def forward(self, x: torch.Tensor, rows: FrameRows) -> torch.Tensor:
        y = nn.functional.glu(_pointwise(self.pointwise_in, self.norm_in(x)), dim=-1)  # (N, D)
        y = rows.over_time(lambda t: nn.functional.silu(self.norm(self.depthwise(t))), y)  # (B, D, T) inside
        return _pointwise(self.pointwise_out, y)  # (N, D)


def _pointwise(conv: nn.Conv1d, rows: torch.Tensor) -> torch.Tensor:
    """A kernel-size-1 ``Conv1d`` applied to rows ``(N, C_in) -> (N, C_out)``."""
    return nn.functional.linear(rows, conv.weight.squeeze(-1), conv.bias)


class ConformerBlock(nn.Module):
    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, kernel_size: int, dropout: float,
                 attention_dropout: float, conv_norm: str):
        super().__init__()
        self.ff1, self.ff2 = FeedForward(d_model, ffn_dim, dropout), FeedForward(d_model, ffn_dim, dropout)
        self.norm_att = nn.LayerNorm(d_model)
        self.att = RelPositionMultiHeadAttention(d_model, num_heads, attention_dropout)
        self.conv = ConvModule(d_model, kernel_size, conv_norm)
        self.norm_out = nn.LayerNorm(d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, rows: FrameRows) -> torch.Tensor:
        """``x (N, D)``: the valid frames of ``rows``; ``pos (1, 2T-1, D)``."""
        x = x + 0.5 * self.dropout(self.ff1(x))
        x = x + self.dropout(self.att(self.norm_att(x), pos, rows))
        x = x + self.dropout(self.conv(x, rows))
        x = x + 0.5 * self.dropout(self.ff2(x))
        return self.norm_out(x)


class ConformerEncoder(RelPositionEncoder):
    """``(B, T, F)`` features -> ``(B, T', output_size)`` encodings and ``(B,)`` lengths.

    Args mirror ESPnet2's ``encoder_conf`` for ``encoder: conformer`` (``output_size``,
    ``attention_heads``, ``linear_units``, ``num_blocks``, ``cnn_module_kernel``, ...).
    """

    def __init__(self, input_size: int = 80, output_size: int = 144, attention_heads: int = 4,
                 linear_units: int = 576, num_blocks: int = 4, cnn_module_kernel: int = 15,
                 dropout_rate: float = 0.1, attention_dropout_rate: float = 0.0, subsampling_factor: int = 4,
                 subsampling_channels: int | None = None, conv_norm: str = "batch_norm",
                 interctc_layer_idx: list[int] | None = None, interctc_use_conditioning: bool = False):
        super().__init__()
        self.output_size = output_size
        self._set_interctc(interctc_layer_idx, num_blocks, interctc_use_conditioning)
        self.subsampling = Conv2dSubsampling(input_size, output_size, subsampling_channels, subsampling_factor)
        self.pos = RelPositionalEncoding(output_size, dropout_rate)
        self.blocks = nn.ModuleList(ConformerBlock(output_size, attention_heads, linear_units, cnn_module_kernel,
                                                   dropout_rate, attention_dropout_rate, conv_norm)
                                    for _ in range(num_blocks))
