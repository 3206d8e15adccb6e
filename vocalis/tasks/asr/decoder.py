"""Transformer attention decoder: teacher-forced training and cached incremental scoring.

Token ids: ``<blank>`` 0 is never predicted by the decoder; ``<sos/eos>`` is the last id
(``vocab_size - 1``), used both to start a hypothesis and to end it (ESPnet's convention).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vocalis.tasks.asr.attention import MultiHeadAttention
from vocalis.tasks.asr.dropout import Dropout
from vocalis.tasks.asr.transformer_encoder import sinusoidal_positions


class DecoderLayer(nn.Module):
    """Pre-norm self-attention, source attention, feed-forward."""

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, dropout: float, self_att_dropout: float,
                 src_att_dropout: float):
        super().__init__()
        self.norm_self, self.norm_src, self.norm_ff = (nn.LayerNorm(d_model) for _ in range(3))
        self.self_att = MultiHeadAttention(d_model, num_heads, self_att_dropout)
        self.src_att = MultiHeadAttention(d_model, num_heads, src_att_dropout)
        self.ff = nn.Sequential(nn.Linear(d_model, ffn_dim), nn.ReLU(), Dropout(dropout), nn.Linear(ffn_dim, d_model))
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, self_mask: torch.Tensor | None, memory: torch.Tensor,
                memory_mask: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: ``x (N, L, D)`` -> ``(N, L, D)``."""
        return self.step(x, None, self_mask, memory, memory_mask, None)[0]

    def step(self, x: torch.Tensor, self_kv: tuple[torch.Tensor, torch.Tensor] | None, causal: torch.Tensor | None,
             memory: torch.Tensor, memory_mask: torch.Tensor, memory_kv: tuple[torch.Tensor, torch.Tensor] | None
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """New positions ``x (N, L', D)`` after the positions whose self-attention keys/values
        ``self_kv`` (``(N, H, L, d_k)`` each, or None) are cached -> ``(y (N, L', D), keys/values
        of all L + L' positions)``. ``causal`` masks the new positions among themselves."""
        h = self.norm_self(x)
        k, v = self.self_att.project_kv(h)
        if self_kv is not None:
            k, v = torch.cat([self_kv[0], k], dim=2), torch.cat([self_kv[1], v], dim=2)
        y = x + self.dropout(self.self_att(h, h, causal, kv=(k, v)))
        y = y + self.dropout(self.src_att(self.norm_src(y), memory, memory_mask, kv=memory_kv))
        return y + self.dropout(self.ff(self.norm_ff(y))), (k, v)


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

    def _embed(self, ys: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Token ids ``(N, L)`` at positions ``start .. start + L - 1`` -> ``(N, L, D)``."""
        x = self.embed(ys) * math.sqrt(self.d_model)
        positions = sinusoidal_positions(start + ys.shape[1], self.d_model, ys.device)[start:]
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

    def memory_kv(self, memory: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each layer's source-attention keys/values of ``memory``: computed once per search."""
        return [layer.src_att.project_kv(memory) for layer in self.layers]

    def score_last(self, ys: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor,
                   cache: list[torch.Tensor] | None,
                   memory_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None
                   ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Log-probabilities of the next token for each prefix ``ys (N, L)``.

        ``cache`` holds every layer's self-attention keys and values for the first ``L - 1``
        positions (``[k_0, v_0, k_1, v_1, ...]``, each ``(N, H, L-1, d_k)``, from the previous
        call, reordered to the surviving hypotheses), so only the last token goes through the
        layers; ``memory_kv`` (:meth:`memory_kv`) spares re-projecting the encoder output at
        every step. ``memory_kv`` and ``memory_mask`` may cover ``B`` utterances whose ``N / B``
        hypotheses are consecutive rows of ``ys`` (see :meth:`MultiHeadAttention.forward`).
        Returns ``(logp (N, V), new cache)``.
        """
        if cache is None:  # the whole prefix (usually just <sos>)
            x, causal = self._embed(ys), self.causal_mask(ys.shape[1], ys.device)
        else:
            x, causal = self._embed(ys[:, -1:], start=ys.shape[1] - 1), None
        new_cache = []
        for k, layer in enumerate(self.layers):
            self_kv = None if cache is None else (cache[2 * k], cache[2 * k + 1])
            x, (keys, values) = layer.step(x, self_kv, causal, memory, memory_mask,
                                           memory_kv[k] if memory_kv is not None else None)
            new_cache += [keys, values]
        return self.output(self.norm(x[:, -1])).log_softmax(-1), new_cache
