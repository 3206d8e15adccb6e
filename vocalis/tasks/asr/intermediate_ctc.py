"""Intermediate CTC (Lee and Watanabe, 2021): the outputs of chosen encoder blocks also feed the
CTC loss, through the same CTC head, which regularises the lower blocks.

ESPnet2's names: ``encoder_conf.interctc_layer_idx`` lists the blocks (1-based, the last one
excluded: its output is the encoder's), ``model_conf.interctc_weight`` mixes the losses as
``(1 - w) * ctc + w * mean(intermediate ctc)``. Every built-in encoder returns those outputs
from ``forward_with_intermediates``.
"""

from __future__ import annotations

from typing import Sequence


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
