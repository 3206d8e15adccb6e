"""Pre-norm Transformer encoder over subsampled features (ESPnet2's ``encoder: transformer``).

Layers are plain ``nn.Linear`` + ``scaled_dot_product_attention`` rather than
``nn.TransformerEncoderLayer``, whose inference fast path reads weights directly and
would bypass adapters (LoRA) wrapped around its Linear modules. Like the other encoders,
the layers read the valid frames as rows (:class:`~vocalis.tasks.asr.frame_rows.FrameRows`)
and the output is zero at the padding.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import nn

from vocalis.tasks.asr.attention import MultiHeadAttention
from vocalis.tasks.asr.dropout import Dropout
from vocalis.tasks.asr.frame_rows import FrameRows
from vocalis.tasks.asr.intermediate_ctc import InterCTCEncoder
from vocalis.tasks.asr.subsampling import Conv2dSubsampling


@lru_cache(maxsize=64)
def sinusoidal_positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """Absolute sinusoidal position table ``(length, dim)`` (cached: beam search asks every step).

    Built outside inference mode, so a table first made while decoding is still a normal
    tensor when training uses it.
    """
    with torch.inference_mode(False):
        return _positions(length, dim, device)


def _positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    pos = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(pos * div)
    table[:, 1::2] = torch.cos(pos * div)
    return table


class EncoderLayer(nn.Module):
    """``x + Att(LN(x))`` then ``x + FFN(LN(x))``, FFN = ``Linear -> ReLU -> Dropout -> Linear``."""

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, dropout: float, attention_dropout: float):
        super().__init__()
        self.norm_att, self.norm_ff = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.att = MultiHeadAttention(d_model, num_heads, attention_dropout)
        self.ff = nn.Sequential(nn.Linear(d_model, ffn_dim), nn.ReLU(inplace=True), Dropout(dropout), nn.Linear(ffn_dim, d_model))
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, rows: FrameRows) -> torch.Tensor:
        """``x (N, D)``: the valid frames of ``rows``. The feed-forward runs on them only; the
        attention on the padded layout (its module is the decoder's too), zeros at the padding."""
        h = rows.unpack(self.norm_att(x))  # (B, T, D)
        x = x + self.dropout(rows.pack(self.att(h, h, ~rows.pad_mask[:, None])))
        return x + self.dropout(self.ff(self.norm_ff(x)))


class TransformerEncoder(InterCTCEncoder):
    """``(B, T, F)`` features -> ``(B, T', output_size)`` encodings and ``(B,)`` lengths.

    Pre-norm layers with absolute sinusoidal positions. Args mirror ESPnet2's
    ``encoder_conf`` for ``encoder: transformer``.
    """

    def __init__(self, input_size: int = 80, output_size: int = 144, attention_heads: int = 4,
                 linear_units: int = 576, num_blocks: int = 6, dropout_rate: float = 0.1,
                 attention_dropout_rate: float = 0.0, subsampling_factor: int = 4,
                 subsampling_channels: int | None = None, interctc_layer_idx: list[int] | None = None,
                 interctc_use_conditioning: bool = False):
        super().__init__()
        self.d_model = self.output_size = output_size
        self._set_interctc(interctc_layer_idx, num_blocks, interctc_use_conditioning)
        self.subsampling = Conv2dSubsampling(input_size, output_size, subsampling_channels, subsampling_factor)
        self.dropout = Dropout(dropout_rate)
        self.layers = nn.ModuleList(EncoderLayer(output_size, attention_heads, linear_units, dropout_rate,
                                                 attention_dropout_rate) for _ in range(num_blocks))
        self.norm = nn.LayerNorm(output_size)

    def _intermediate_output(self, x: torch.Tensor) -> torch.Tensor:
        """Through the final LayerNorm, as the encoder's own output (ESPnet's pre-norm encoders do the same)."""
        return self.norm(x)

    def _run_blocks(self, x: torch.Tensor, lengths: torch.Tensor, keep: tuple[int, ...],
                    ctc_head: nn.Module | None) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        x, lengths = self.subsampling(x, lengths)
        x = self.dropout(x * math.sqrt(self.d_model) + sinusoidal_positions(x.shape[1], self.d_model, x.device))
        rows = FrameRows.from_lengths(lengths, x.shape[1])
        h = rows.pack(x)  # (N, D)
        intermediates: list[torch.Tensor] = []
        for number, layer in enumerate(self.layers, start=1):
            h = self._after_block(number, layer(h, rows), keep, intermediates, ctc_head, rows)
        return rows.unpack(self.norm(h)), lengths, intermediates
