"""Batched CTC greedy (best-path) decoding."""

from __future__ import annotations

import torch


def ctc_greedy(logits: torch.Tensor, lengths: torch.Tensor, blank_id: int = 0) -> list[list[int]]:
    """Argmax per frame, merge repeats, drop blanks.

    Args:
        logits: ``(B, T, V)`` scores (log-probabilities or raw logits; argmax is the same).
        lengths: ``(B,)`` valid frames per utterance.
    Returns:
        one token-id list per utterance. The result for an utterance does not depend on
        the other utterances in the batch.
    """
    best = logits.argmax(dim=-1)  # (B, T)
    keep = best != blank_id
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]
    valid = torch.arange(best.shape[1], device=best.device)[None, :] < lengths[:, None]
    keep &= valid
    best, keep = best.cpu(), keep.cpu()
    return [row[mask].tolist() for row, mask in zip(best, keep)]
