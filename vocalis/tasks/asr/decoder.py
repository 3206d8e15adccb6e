"""Transformer attention decoder: teacher-forced training; token-by-token scoring for
search is :mod:`vocalis.tasks.asr.incremental_decoder`.

Token ids: ``<blank>`` 0 is never predicted by the decoder; ``<sos/eos>`` is the last id
(``vocab_size - 1``), used both to start a hypothesis and to end it (ESPnet's convention).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vocalis.tasks.asr.attention import MultiHeadAttention
from vocalis.tasks.asr.dropout import Dropout
from vocalis.tasks.asr.incremental_decoder import IncrementalDecoder
from vocalis.tasks.asr.transformer_encoder import sinusoidal_positions


class DecoderLayer(nn.Module):
    """Pre-norm self-attention, source attention, feed-forward."""

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, dropout: float, self_att_dropout: float,
                 src_att_dropout: float):
        super().__init__()
        self.norm_self, self.norm_src, self.norm_ff = (nn.LayerNorm(d_model) for _ in range(3))
        self.self_att = MultiHeadAttention(d_model, num_heads, self_att_dropout)
        self.src_att = MultiHeadAttention(d_model, num_heads, src_att_dropout)
        self.ff = nn.Sequential(nn.Linear(d_model, ffn_dim), nn.ReLU(inplace=True), Dropout(dropout), nn.Linear(ffn_dim, d_model))
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, self_mask: torch.Tensor | None, memory: torch.Tensor,
                memory_mask: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: ``x (N, L, D)`` -> ``(N, L, D)``."""
        h = self.norm_self(x)
        y = x + self.dropout(self.self_att(h, h, self_mask))
        y = y + self.dropout(self.src_att(self.norm_src(y), memory, memory_mask))
        return y + self.dropout(self.ff(self.norm_ff(y)))


class TransformerDecoder(nn.Module):
    """Autoregressive decoder over encoder output ``memory (N, T, D)``.

    Args mirror ESPnet2's ``decoder_conf`` for ``decoder: transformer``.
    """

    def __init__(self, vocab_size: int, encoder_output_size: int, attention_heads: int = 4,
                 linear_units: int = 1024, num_blocks: int = 3, dropout_rate: float = 0.1,
                 self_attention_dropout_rate: float = 0.0, src_attention_dropout_rate: float = 0.0):
        super().__init__()
        d = encoder_output_size
        self.d_model, self.vocab_size = d, vocab_size
        self.embed = nn.Embedding(vocab_size, d)
        self.dropout = Dropout(dropout_rate)
        self.layers = nn.ModuleList(DecoderLayer(d, attention_heads, linear_units, dropout_rate,
                                                 self_attention_dropout_rate, src_attention_dropout_rate)
                                    for _ in range(num_blocks))
        self.norm = nn.LayerNorm(d)
        self.output = nn.Linear(d, vocab_size)

    def _embed(self, ys: torch.Tensor) -> torch.Tensor:
        """Token ids ``(N, L)`` -> ``(N, L, D)``."""
        x = self.embed(ys) * math.sqrt(self.d_model)
        positions = sinusoidal_positions(ys.shape[1], self.d_model, ys.device)
        return self.dropout(x + positions.to(x.dtype))

    @staticmethod
    def causal_mask(length: int, device: torch.device) -> torch.Tensor:
        """``(1, L, L)`` True where position i may attend position j <= i."""
        return torch.ones(length, length, dtype=torch.bool, device=device).tril()[None]

    @staticmethod
    def memory_mask(memory_lengths: torch.Tensor, length: int) -> torch.Tensor:
        """``(N, 1, T)`` True on valid encoder frames."""
        return (torch.arange(length, device=memory_lengths.device)[None, :] < memory_lengths[:, None])[:, None]

    def forward(self, memory: torch.Tensor, memory_lengths: torch.Tensor, ys_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: ``ys_in (N, L)`` starting with ``<sos>`` -> logits ``(N, L, V)``."""
        causal = self.causal_mask(ys_in.shape[1], ys_in.device)
        mem_mask = self.memory_mask(memory_lengths, memory.shape[1])
        x = self._embed(ys_in)
        for layer in self.layers:
            x = layer(x, causal, memory, mem_mask)
        return self.output(self.norm(x))

    def incremental(self, memory: torch.Tensor, memory_lengths: torch.Tensor, group: int) -> IncrementalDecoder:
        """Token-by-token scoring of ``B * group`` hypotheses over ``memory (B, T, D)``
        (what beam search runs; see :class:`~vocalis.tasks.asr.incremental_decoder.IncrementalDecoder`)."""
        return IncrementalDecoder(self, memory, memory_lengths, group)
