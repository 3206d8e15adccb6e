"""Intermediate CTC (Lee and Watanabe, 2021) and self-conditioned CTC (Nozaki and Komatsu, 2021).

Intermediate CTC: the outputs of chosen encoder blocks also feed the CTC loss, through the
same CTC head, which regularises the lower blocks. ESPnet2's names:
``encoder_conf.interctc_layer_idx`` lists the blocks (1-based, the last one excluded: its
output is the encoder's), ``model_conf.interctc_weight`` mixes the losses as
``(1 - w) * ctc + w * mean(intermediate ctc)``.

Self-conditioning (``encoder_conf.interctc_use_conditioning: true``) also feeds each chosen
block's CTC posteriors back into the encoder: the next block reads
``x + conditioning_layer(softmax(ctc_head(x)))``, so the upper blocks refine the lower
blocks' guess instead of starting again (CTC's conditional independence, relaxed). It
changes the encoder's output, so decoding runs it too: the model passes its CTC head to the
encoder in ``encode`` and in training. ``conditioning_layer`` (``Linear(vocab, D)``, ESPnet's
parameter name) is added by the model (:class:`~vocalis.tasks.asr.hybrid_model.HybridCTCAttentionModel`),
which knows the vocabulary.

Every built-in encoder derives from :class:`InterCTCEncoder`.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from vocalis.tasks.asr.frame_rows import FrameRows


def check_interctc_layers(layers: Sequence[int] | None, num_blocks: int) -> tuple[int, ...]:
    """``encoder_conf.interctc_layer_idx`` as a sorted tuple, each block in ``1 .. num_blocks - 1``.

    Raises:
        ValueError: a block number outside that range, naming the key and the valid range.
    """
    chosen = tuple(sorted({int(n) for n in layers or ()}))
    bad = [n for n in chosen if not 1 <= n < num_blocks]
    if bad:
        raise ValueError(f"encoder_conf.interctc_layer_idx: block(s) {bad} out of range; with num_blocks={num_blocks} "
                         f"use 1-based blocks 1..{num_blocks - 1} (the last block's output is the encoder's own)")
    return chosen


class InterCTCEncoder(nn.Module):
    """What the built-in encoders share: ``forward``, ``forward_with_intermediates`` and the taps
    after the blocks of ``interctc_layer_idx``.

    A subclass calls :meth:`_set_interctc` in its constructor, implements :meth:`_run_blocks`
    (calling :meth:`_after_block` after each block, on the valid frames of its
    :class:`~vocalis.tasks.asr.frame_rows.FrameRows`) and, if its intermediate outputs go through
    a final norm, overrides :meth:`_intermediate_output`.
    """

    interctc_layer_idx: tuple[int, ...] = ()
    interctc_use_conditioning: bool = False

    def _set_interctc(self, layers: Sequence[int] | None, num_blocks: int, use_conditioning: bool) -> None:
        self.interctc_layer_idx = check_interctc_layers(layers, num_blocks)
        if use_conditioning and not self.interctc_layer_idx:
            raise ValueError("encoder_conf.interctc_use_conditioning: true needs blocks to condition on: set "
                             "encoder_conf.interctc_layer_idx (1-based, e.g. [2]) and model_conf.interctc_weight > 0")
        self.interctc_use_conditioning = bool(use_conditioning)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, ctc_head: nn.Module | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, F)`` features -> ``(B, T', D)`` encodings and ``(B,)`` lengths.

        ``ctc_head`` (``Linear(D, vocab)``) is needed, and only used, with self-conditioning."""
        return self._run_blocks(x, lengths, (), ctc_head)[:2]

    def forward_with_intermediates(self, x: torch.Tensor, lengths: torch.Tensor, ctc_head: nn.Module
                                   ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """:meth:`forward` plus the CTC logits ``(B, T', V)`` of the blocks in ``interctc_layer_idx``:
        ``ctc_head`` of each block's output (before any conditioning is added), for intermediate
        CTC. With self-conditioning the same logits feed the next block, so the head runs once
        per chosen block (a 5000-token head costs about as much as an encoder block)."""
        return self._run_blocks(x, lengths, self.interctc_layer_idx, ctc_head)

    def _run_blocks(self, x: torch.Tensor, lengths: torch.Tensor, keep: tuple[int, ...],
                    ctc_head: nn.Module | None) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError

    def _intermediate_output(self, x: torch.Tensor) -> torch.Tensor:
        """A block's output as the CTC head reads it (pre-norm encoders apply their final norm)."""
        return x

    def _after_block(self, number: int, x: torch.Tensor, keep: tuple[int, ...], intermediates: list[torch.Tensor],
                     ctc_head: nn.Module | None, rows: FrameRows) -> torch.Tensor:
        """After 1-based block ``number``, whose output ``x (N, D)`` holds the valid frames of ``rows``:
        keep its CTC logits, unpacked to ``(B, T', V)`` (zero at the padding), if ``number`` is in
        ``keep`` and, with self-conditioning, return ``x`` plus the projected CTC posteriors."""
        conditioned = self.interctc_use_conditioning and number in self.interctc_layer_idx
        if number not in keep and not conditioned:
            return x
        layer = self._conditioning_layer() if conditioned else None
        if ctc_head is None:
            need = "interctc_use_conditioning" if conditioned else "intermediate CTC"
            raise ValueError(f"{type(self).__name__}: {need} needs the model's CTC head: call it with ctc_head=<the "
                             "model's CTC head> (HybridCTCAttentionModel does)")
        logits = ctc_head(self._intermediate_output(x))  # (N, V)
        if number in keep:
            intermediates.append(rows.unpack(logits))
        return x + layer(logits.softmax(-1)) if conditioned else x  # (N, D)

    def _conditioning_layer(self) -> nn.Module:
        layer = getattr(self, "conditioning_layer", None)
        if layer is None:
            raise RuntimeError(f"{type(self).__name__} has interctc_use_conditioning but no conditioning_layer: build "
                               "it inside HybridCTCAttentionModel, which adds Linear(vocab_size, output_size)")
        return layer
