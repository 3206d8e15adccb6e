"""Pre-norm Transformer encoder over subsampled features, on torch's fused attention layers."""

from __future__ import annotations

import math

import torch
from torch import nn

from vocalis.tasks.asr.subsampling import Conv2dSubsampling


def sinusoidal_positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """Absolute sinusoidal position table ``(length, dim)``."""
    pos = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(pos * div)
    table[:, 1::2] = torch.cos(pos * div)
    return table


class TransformerEncoder(nn.Module):
    """``(B, T, F)`` features -> ``(B, T', output_size)`` encodings and ``(B,)`` lengths.

    Pre-norm layers with absolute sinusoidal positions. Args mirror ESPnet2's
    ``encoder_conf`` for ``encoder: transformer``.
    """

    def __init__(self, input_size: int = 80, output_size: int = 144, attention_heads: int = 4,
                 linear_units: int = 576, num_blocks: int = 6, dropout_rate: float = 0.1,
                 subsampling_factor: int = 4, subsampling_channels: int | None = None):
        super().__init__()
        self.d_model = self.output_size = output_size
        self.subsampling = Conv2dSubsampling(input_size, output_size, subsampling_channels, subsampling_factor)
        self.dropout = nn.Dropout(dropout_rate)
        layer = nn.TransformerEncoderLayer(output_size, attention_heads, linear_units, dropout_rate,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, num_blocks, norm=nn.LayerNorm(output_size),
                                            enable_nested_tensor=False)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x, lengths = self.subsampling(x, lengths)
        x = self.dropout(x * math.sqrt(self.d_model) + sinusoidal_positions(x.shape[1], self.d_model, x.device))
        pad_mask = torch.arange(x.shape[1], device=x.device)[None, :] >= lengths[:, None]  # (B, T') True = pad
        return self.layers(x, src_key_padding_mask=pad_mask), lengths
