"""Label-smoothed attention loss, as ESPnet computes it (KL divergence to a smoothed target)."""

from __future__ import annotations

import torch
from torch import nn


class LabelSmoothingLoss(nn.Module):
    """KL(smoothed target || softmax(logits)) over non-ignored positions.

    The target puts ``1 - smoothing`` on the reference token and spreads ``smoothing``
    over the other ``V - 1`` classes. Summed over tokens, then divided by the batch size
    (or by the token count with ``normalize_length``).

    ``forward(logits (B, L, V), target (B, L) with ignore_index for padding) -> scalar``.
    """

    def __init__(self, vocab_size: int, smoothing: float = 0.1, normalize_length: bool = False,
                 ignore_index: int = -1):
        super().__init__()
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"lsm_weight must be in [0, 1), got {smoothing}")
        self.vocab_size, self.smoothing = vocab_size, smoothing
        self.normalize_length, self.ignore_index = normalize_length, ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        batch_size = logits.shape[0]
        logits, target = logits.reshape(-1, self.vocab_size).float(), target.reshape(-1)
        keep = target != self.ignore_index
        logits, target = logits[keep], target[keep]
        log_probs = logits.log_softmax(-1)  # (N, V)
        off = self.smoothing / (self.vocab_size - 1)
        on = 1.0 - self.smoothing
        # KL = sum_v q_v (log q_v - log p_v); the entropy part is a constant per token
        entropy = on * torch.log(torch.tensor(on)) + (self.vocab_size - 1) * off * torch.log(torch.tensor(off)) \
            if self.smoothing > 0 else torch.tensor(0.0)
        cross = -(off * log_probs.sum(-1) + (on - off) * log_probs.gather(1, target[:, None]).squeeze(1))
        loss = (cross + entropy.to(cross.device)).sum()
        return loss / (max(int(keep.sum()), 1) if self.normalize_length else batch_size)
