"""A padded batch's valid frames as rows, so position-wise layers skip the padding.

An encoder block's feed-forwards, projections, norms and dropouts treat every frame on its
own: run on a padded ``(B, T, D)`` batch they spend the padding's share of their work on
frames nothing reads. With utterances of different lengths in a batch that share is large:
the digits recipe's speed-perturbed batches are about 20 % padding. :class:`FrameRows` packs
the ``N`` valid frames into rows ``(N, D)`` for those layers and scatters them back into a
zero-padded ``(B, T, D)`` for the layers that mix frames (attention, convolutions over time).

Valid frames get the same values as in the padded computation (up to float rounding), as
long as whatever mixes frames sees zeros, or a mask, at the padding: attention masks padded
keys, and the convolution modules zeroed padded frames before their depthwise convolution
already. A padded frame's value after :meth:`FrameRows.unpack` is zero instead of what the
padded computation left there; nothing downstream reads it (CTC, the decoder's
cross-attention and the greedy search all stop at each utterance's length).

Without padding (a batch of one, or equal lengths) packing and unpacking are reshapes.
"""

from __future__ import annotations

from typing import Callable

import torch


class FrameRows:
    """The valid frames of a batch with ``pad_mask (B, T)`` (True = padding), as rows ``(N, *)``."""

    def __init__(self, pad_mask: torch.Tensor):
        self.pad_mask = pad_mask
        self.batch, self.frames = pad_mask.shape
        # flat indices of the valid frames into (B * T), in batch-major order; None: no padding
        self.index = (~pad_mask).flatten().nonzero().squeeze(1) if bool(pad_mask.any()) else None

    @classmethod
    def from_lengths(cls, lengths: torch.Tensor, frames: int) -> FrameRows:
        """The first ``lengths[b]`` of ``frames`` frames of each utterance ``b`` are valid."""
        return cls(torch.arange(frames, device=lengths.device)[None, :] >= lengths[:, None])  # (B, T) True = pad

    @property
    def num_rows(self) -> int:
        return self.batch * self.frames if self.index is None else int(self.index.numel())

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, *)`` -> ``(N, *)``: the valid frames."""
        flat = x.reshape(self.batch * self.frames, *x.shape[2:])
        return flat if self.index is None else flat.index_select(0, self.index)

    def unpack(self, rows: torch.Tensor) -> torch.Tensor:
        """``(N, *)`` -> ``(B, T, *)`` with zeros at the padding."""
        if self.index is None:
            return rows.reshape(self.batch, self.frames, *rows.shape[1:])
        full = rows.new_zeros(self.batch * self.frames, *rows.shape[1:]).index_copy(0, self.index, rows)
        return full.view(self.batch, self.frames, *rows.shape[1:])

    def over_time(self, mix: Callable[[torch.Tensor], torch.Tensor], rows: torch.Tensor) -> torch.Tensor:
        """``mix`` (a convolution over time, ``(B, C, T) -> (B, C', T)``) applied to rows ``(N, C)``
        on the padded layout, zeros at the padding; returns rows ``(N, C')``."""
        return self.pack(mix(self.unpack(rows).transpose(1, 2)).transpose(1, 2))
