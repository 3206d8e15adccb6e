"""Self-attention with relative positions (Transformer-XL style, as Conformer uses it).

Scores are ``(q + u) k^T + shift((q + v) p^T)`` over ``sqrt(d_head)``, where ``p`` are
sinusoidal embeddings of the relative distances ``T-1 ... -(T-1)`` and ``u``/``v`` learned
per-head biases. The position term and the padding mask are passed to
``scaled_dot_product_attention`` as one additive bias, so the content term runs fused.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from vocalis.tasks.asr.dropout import Dropout
from vocalis.tasks.asr.frame_rows import FrameRows
from vocalis.tasks.asr.intermediate_ctc import InterCTCEncoder
from vocalis.tasks.asr.module_functions import fused_projection


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None,
           dropout_p: float) -> torch.Tensor:
    """``scaled_dot_product_attention`` of ``q (N, H, Lq, d)`` over ``k, v (N, H, Lk, d)``.

    Under CPU autocast it runs in float32: PyTorch's CPU kernel is as fast in bfloat16 forward
    but 2-3x slower backward (``(16, 4, 52, 64)``: 6.5 against 2.0 ms on an AMX Xeon).
    """
    if q.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
        if attn_mask is not None and attn_mask.is_floating_point():
            attn_mask = attn_mask.float()
        with torch.autocast("cpu", enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=attn_mask,
                                                  dropout_p=dropout_p)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)


class RelPositionalEncoding(nn.Module):
    """Scaled input plus the relative position table.

    ``forward(x)`` with ``x (B, T, D)`` returns ``(x * sqrt(D), pos (1, 2T-1, D))`` where
    ``pos[:, k]`` embeds the distance ``T - 1 - k`` (positive first, as the shift expects).
    """

    def __init__(self, d_model: int, dropout: float = 0.1):
        super().__init__()
        self.d_model, self.dropout = d_model, Dropout(dropout)

    def table(self, length: int, device: torch.device) -> torch.Tensor:
        distances = torch.arange(length - 1, -length, -1, device=device, dtype=torch.float32)[:, None]  # (2T-1, 1)
        inv = torch.exp(torch.arange(0, self.d_model, 2, device=device, dtype=torch.float32)
                        * (-math.log(10000.0) / self.d_model))
        pos = torch.zeros(2 * length - 1, self.d_model, device=device)
        pos[:, 0::2], pos[:, 1::2] = torch.sin(distances * inv), torch.cos(distances * inv)
        return pos[None]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pos = self.table(x.shape[1], x.device).to(x.dtype)
        return self.dropout(x * math.sqrt(self.d_model)), self.dropout(pos)


def rel_shift(scores: torch.Tensor) -> torch.Tensor:
    """``(B, H, T, 2T-1)`` scores per (query, distance) -> ``(B, H, T, T)`` per (query, key).

    Entry ``[i, j]`` is taken from distance column ``T - 1 - (i - j)``.
    """
    b, h, t, n = scores.shape
    padded = F.pad(scores, (1, 0)).view(b, h, n + 1, t)  # the classic pad-and-reshape trick
    return padded[:, :, 1:].reshape(b, h, t, n)[..., : n // 2 + 1]


class RelPositionMultiHeadAttention(nn.Module):
    """Multi-head self-attention with relative position bias.

    ``forward(x (N, D), pos (1, 2T-1, D), rows) -> (N, D)``: ``x`` holds the valid frames of a
    padded batch as :class:`~vocalis.tasks.asr.frame_rows.FrameRows` ``rows`` (the projections
    run on those rows only; the scores on the padded ``(B, H, T, T)`` layout, padded keys masked).
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model {d_model} is not divisible by num_heads {num_heads}")
        self.h, self.d_k, self.dropout = num_heads, d_model // num_heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.pos_proj = nn.Linear(d_model, d_model, bias=False)
        self.out = nn.Linear(d_model, d_model)
        self.pos_bias_u = nn.Parameter(torch.zeros(num_heads, self.d_k))
        self.pos_bias_v = nn.Parameter(torch.zeros(num_heads, self.d_k))
        nn.init.xavier_uniform_(self.pos_bias_u)
        nn.init.xavier_uniform_(self.pos_bias_v)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, rows: FrameRows) -> torch.Tensor:
        b, t = rows.batch, rows.frames
        qkv = rows.unpack(self.qkv(x))  # (B, T, 3D), zeros at the padding
        q, k, v = qkv.view(b, t, 3, self.h, self.d_k).permute(2, 0, 3, 1, 4)  # each (B, H, T, d_k)
        p = self.pos_proj(pos).view(1, -1, self.h, self.d_k).transpose(1, 2)  # (1, H, 2T-1, d_k)
        scale = 1.0 / math.sqrt(self.d_k)
        bias = rel_shift(torch.matmul(q + self.pos_bias_v[:, None], p.transpose(-2, -1))) * scale  # (B, H, T, T)
        bias = bias.masked_fill(rows.pad_mask[:, None, None, :], float("-inf"))
        y = attend(q + self.pos_bias_u[:, None], k, v, bias, self.dropout if self.training else 0.0)
        return self.out(rows.pack(y.transpose(1, 2).reshape(b, t, -1)))  # (N, D)


class RelPositionEncoder(InterCTCEncoder):
    """The block loop shared by the relative-position encoders (conformer, e-branchformer):
    ``subsampling`` -> ``pos`` -> each of ``blocks(x, pos, rows)``.

    The blocks read and return the valid frames only, as rows ``(N, D)`` of
    :class:`~vocalis.tasks.asr.frame_rows.FrameRows`; the encoder's output is zero at the padding.
    A subclass sets those three modules and ``output_size``, and calls ``_set_interctc``
    (:class:`~vocalis.tasks.asr.intermediate_ctc.InterCTCEncoder`).
    """

    def _run_blocks(self, x: torch.Tensor, lengths: torch.Tensor, keep: tuple[int, ...],
                    ctc_head: nn.Module | None) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        x, lengths = self.subsampling(x, lengths)
        x, pos = self.pos(x)
        rows = FrameRows.from_lengths(lengths, x.shape[1])
        h = rows.pack(x)  # (N, D)
        intermediates: list[torch.Tensor] = []
        for number, block in enumerate(self.blocks, start=1):
            h = self._after_block(number, block(h, pos, rows), keep, intermediates, ctc_head, rows)
        return rows.unpack(h), lengths, intermediates


class MultiHeadAttention(nn.Module):
    """``(N, Lq, D)`` queries over ``(N, Lk, D)`` keys/values; ``mask (N or 1, Lq or 1, Lk)`` True = attend."""

    def __init__(self, d_model: int, num_heads: int, dropout: float):
        super().__init__()
        self.h, self.d_k, self.dropout = num_heads, d_model // num_heads, dropout
        self.q, self.k, self.v, self.out = (nn.Linear(d_model, d_model) for _ in range(4))

    def project_kv(self, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values ``(N, H, Lk, d_k)`` of ``key (N, Lk, D)`` (search projects the encoder output once)."""
        n = key.shape[0]
        k, v = fused_projection((self.k, self.v))(key).view(n, -1, 2, self.h, self.d_k).unbind(2)
        return k.transpose(1, 2), v.transpose(1, 2)

    def forward(self, query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        n, lq, _ = query.shape
        if query is key:  # self-attention: queries, keys and values as one product
            q, k, v = fused_projection((self.q, self.k, self.v))(query).view(n, lq, 3, self.h, self.d_k).unbind(2)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # each (N, H, Lq, d_k)
        else:
            q = self.q(query).view(n, lq, self.h, self.d_k).transpose(1, 2)  # (N, H, Lq, d_k)
            k, v = self.project_kv(key)
        y = attend(q, k, v, None if mask is None else mask[:, None], self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(n, lq, -1))
