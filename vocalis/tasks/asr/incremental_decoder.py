"""Token-by-token scoring with a :class:`~vocalis.tasks.asr.decoder.TransformerDecoder`.

Beam search feeds one new token per hypothesis per output step. Teacher forcing would run the
whole prefix through every layer each time; :class:`IncrementalDecoder` runs only the new
position and keeps, for one search:

- every layer's source-attention keys/values of the encoder output, projected once per
  utterance and shared by that utterance's ``G`` hypotheses (``G`` consecutive rows);
- every layer's self-attention keys/values of the positions decoded so far, in a
  :class:`KeyValueCache` that is reordered to the surviving hypotheses after each step.

At 10 hypotheses a step is ~25 matrix products on 10 rows, each a few microseconds of
arithmetic, so the step is bound by per-call overhead. Hence: the q/k/v projections of
self-attention run as one product, plain ``Linear``/``LayerNorm`` modules are called as
functions (``Module.__call__`` costs ~4 µs a call), dropout is skipped (decoding is eval
mode), and the cache grows in place instead of being concatenated. Other modules (int8
``Linear``, LoRA wrappers) are called as they are, so quantized or adapted decoders decode
through the same code.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from vocalis.tasks.asr.module_functions import as_function, fused_projection
from vocalis.tasks.asr.transformer_encoder import sinusoidal_positions


class KeyValueCache:
    """Self-attention keys and values of every layer for the ``length`` positions decoded so far.

    One buffer ``(2 * layers, N, capacity, D)`` holds them all (layer ``i``'s keys at ``2i``,
    values at ``2i + 1``). :meth:`reorder` gathers the surviving hypotheses' rows of all layers
    with one ``index_select`` into a second buffer, and the two swap; :meth:`write` stores the
    new position in place. Capacity doubles when full.
    """

    def __init__(self, layers: int, rows: int, d_model: int, like: torch.Tensor, capacity: int = 32):
        self.length = 0
        self._buffers = [like.new_empty(2 * layers, rows, capacity, d_model) for _ in range(2)]

    def write(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store position ``length`` of ``layer`` (``(N, D)`` each) and return that layer's keys and
        values of positions ``0 .. length``, ``(N, length + 1, D)`` each (views of the buffer)."""
        buf = self._buffers[0]
        if self.length == buf.shape[2]:
            self._grow()
            buf = self._buffers[0]
        buf[2 * layer, :, self.length] = keys
        buf[2 * layer + 1, :, self.length] = values
        return buf[2 * layer, :, : self.length + 1], buf[2 * layer + 1, :, : self.length + 1]

    def advance(self) -> None:
        """Every layer has written position ``length``."""
        self.length += 1

    def reorder(self, rows: torch.Tensor) -> None:
        """Keep hypotheses ``rows (N,)`` (indices of the current rows) in their new order."""
        src, dst = self._buffers
        torch.index_select(src[:, :, : self.length], 1, rows, out=dst[:, :, : self.length])
        self._buffers.reverse()

    def _grow(self) -> None:
        old = self._buffers[0]
        layers2, rows, capacity, d = old.shape
        self._buffers = [old.new_empty(layers2, rows, 2 * capacity, d) for _ in range(2)]
        self._buffers[0][:, :, :capacity] = old


class _Layer:
    """One decoder layer's modules as functions (see the module docstring)."""

    def __init__(self, layer: nn.Module):
        self.norm_self, self.norm_src, self.norm_ff = (as_function(m) for m in
                                                       (layer.norm_self, layer.norm_src, layer.norm_ff))
        att = layer.self_att
        self.heads, self.d_k = att.h, att.d_k
        self.qkv = fused_projection((att.q, att.k, att.v))
        self.self_out, self.src_q, self.src_out = (as_function(m) for m in
                                                   (att.out, layer.src_att.q, layer.src_att.out))
        ff_in, ff_out = (m for m in layer.ff if not isinstance(m, (nn.ReLU, nn.Dropout)))
        self.ff_in, self.ff_out = as_function(ff_in), as_function(ff_out)


class IncrementalDecoder:
    """Scores the next token of ``N = B * G`` hypotheses, one position per :meth:`score` call.

    Args:
        decoder: an eval-mode :class:`~vocalis.tasks.asr.decoder.TransformerDecoder`.
        memory: encoder output ``(B, T, D)``; ``memory_lengths (B,)`` its valid frames.
        group: hypotheses per utterance ``G``; rows ``u * G .. u * G + G - 1`` belong to utterance ``u``.

    Call :meth:`score` with each hypothesis' latest token (``<sos>`` first), then
    :meth:`reorder` with the rows the search keeps, and so on.
    """

    def __init__(self, decoder: nn.Module, memory: torch.Tensor, memory_lengths: torch.Tensor, group: int):
        if decoder.training:
            raise ValueError("IncrementalDecoder skips dropout: call decoder.eval() before decoding")
        b, t, d = memory.shape
        self.group, self.d_model, self.scale = group, d, math.sqrt(d)
        self.embed = decoder.embed.weight
        self.layers = [_Layer(layer) for layer in decoder.layers]
        self.norm, self.output = as_function(decoder.norm), as_function(decoder.output)
        # encoder keys/values per layer, (B, H, T, d_k) each, and the padding as an additive
        # (B, 1, 1, T) mask (None when no frame is padded: the attention kernel then skips it)
        self.memory_kv = [layer.src_att.project_kv(memory) for layer in decoder.layers]
        valid = decoder.memory_mask(memory_lengths, t)  # (B, 1, T)
        self.memory_mask = None if bool(valid.all()) else \
            torch.zeros(b, 1, 1, t, dtype=memory.dtype, device=memory.device).masked_fill(~valid[:, None], -math.inf)
        self.cache = KeyValueCache(len(self.layers), b * group, d, memory)

    def score(self, tokens: torch.Tensor) -> torch.Tensor:
        """Log-probabilities ``(N, V)`` of the token after each hypothesis, whose latest token is
        ``tokens (N,)`` at position ``cache.length``."""
        d, pos = self.d_model, self.cache.length
        positions = sinusoidal_positions(pos + 1, d, tokens.device)[pos]
        x = F.embedding(tokens, self.embed).mul_(self.scale).add_(positions.to(self.embed.dtype))  # (N, D)
        for i, layer in enumerate(self.layers):
            x = x + layer.self_out(self._self_attention(i, layer, layer.norm_self(x)))
            x = x + layer.src_out(self._source_attention(i, layer, layer.norm_src(x)))
            x = x + layer.ff_out(layer.ff_in(layer.norm_ff(x)).relu_())
        self.cache.advance()
        return self.output(self.norm(x)).log_softmax(-1)

    def reorder(self, rows: torch.Tensor) -> None:
        """Continue with hypotheses ``rows (N,)``: each new row ``r`` extends the old row ``rows[r]``."""
        self.cache.reorder(rows)

    def _self_attention(self, i: int, layer: _Layer, h: torch.Tensor) -> torch.Tensor:
        """``h (N, D)`` of the new position attends all positions so far -> ``(N, D)``."""
        n, heads, d_k = h.shape[0], layer.heads, layer.d_k
        q, k, v = layer.qkv(h).split(self.d_model, dim=-1)
        keys, values = self.cache.write(i, k, v)  # (N, L, D)
        length = keys.shape[1]
        y = F.scaled_dot_product_attention(q.reshape(n, heads, 1, d_k),
                                           keys.view(n, length, heads, d_k).transpose(1, 2),
                                           values.view(n, length, heads, d_k).transpose(1, 2))  # (N, H, 1, d_k)
        return y.view(n, self.d_model)

    def _source_attention(self, i: int, layer: _Layer, h: torch.Tensor) -> torch.Tensor:
        """``h (N, D)`` attends its utterance's encoder frames; an utterance's ``G`` queries run
        as one ``(G, d_k)`` block per head against its keys -> ``(N, D)``."""
        n, heads, d_k = h.shape[0], layer.heads, layer.d_k
        q = layer.src_q(h).view(n // self.group, self.group, heads, d_k).transpose(1, 2)  # (B, H, G, d_k)
        keys, values = self.memory_kv[i]
        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=self.memory_mask)  # (B, H, G, d_k)
        return y.transpose(1, 2).reshape(n, self.d_model)
