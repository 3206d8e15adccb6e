"""Feature normalisation: global mean/variance from collect_stats, or per utterance.

Both work on features ``(T, D)`` and are applied in the data pipeline, so every model,
built-in or recipe-local, sees the same normalised input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

NORMALIZE_CHOICES = ("global_mvn", "utterance_mvn", None)


class GlobalMVN:
    """``(x - mean) / std`` with statistics from ``feats_stats.npz`` (count, sum, sum_square)."""

    def __init__(self, stats_file: str | Path, eps: float = 1e-10):
        stats_file = Path(stats_file)
        if not stats_file.is_file():
            raise FileNotFoundError(f"{stats_file} does not exist: run the collect_stats stage "
                                    "(normalize: global_mvn needs its statistics) or set normalize: utterance_mvn")
        stats = np.load(stats_file)
        count = float(stats["count"])
        mean = stats["sum"] / count
        var = np.maximum(stats["sum_square"] / count - mean**2, eps)
        self.mean = torch.as_tensor(mean, dtype=torch.float32)
        self.inv_std = torch.as_tensor(1.0 / np.sqrt(var), dtype=torch.float32)

    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        if feats.shape[-1] != self.mean.shape[0]:
            raise ValueError(f"features have dim {feats.shape[-1]} but the global statistics have "
                             f"{self.mean.shape[0]}; re-run collect_stats after changing the frontend")
        return (feats - self.mean) * self.inv_std


class UtteranceMVN:
    """Per-utterance mean (and optionally variance) normalisation over time."""

    def __init__(self, norm_vars: bool = False, eps: float = 1e-10):
        self.norm_vars, self.eps = norm_vars, eps

    def __call__(self, feats: torch.Tensor) -> torch.Tensor:
        feats = feats - feats.mean(dim=0, keepdim=True)
        if self.norm_vars:
            feats = feats / feats.std(dim=0, keepdim=True).clamp_min(self.eps)
        return feats


def build_normalizer(choice: str | None, stats_file: str | Path) -> GlobalMVN | UtteranceMVN | None:
    """The normaliser named by ``normalize:`` in training.yaml."""
    if choice is None:
        return None
    if choice == "global_mvn":
        return GlobalMVN(stats_file)
    if choice == "utterance_mvn":
        return UtteranceMVN()
    raise ValueError(f"normalize: {choice!r} is not one of {NORMALIZE_CHOICES}")
