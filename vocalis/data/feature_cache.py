"""Keep frontend outputs in memory, so later epochs skip audio decoding and the fbank.

On a 2-core machine the loader worker that decodes FLAC and computes the Kaldi fbank
(about 4 ms per 2.5 s utterance) competes with the training threads for the same cores:
in the digits conformer that made a step ~1.5x slower than the model alone. What the
frontend produces for an utterance is a pure function of the audio and, with speed
perturbation, of the drawn factor, so it is computed once per (utterance, factor) and
reused. SpecAugment and normalisation still run on every draw, after the cache.
``dataloader.precompute_features`` fills it before training (vocalis/train/feature_precompute.py),
so no pair is computed inside the training loop at all.

Additive noise draws continuous random values, so a pipeline with ``augment.noise``
is not cached (every epoch recomputes its features, as before).

Budget: ``dataloader.feature_cache_gb`` per loader process (each DataLoader worker keeps
its own cache; ``persistent_workers`` keeps it across epochs). When the budget is full
the cache stops growing and later utterances are recomputed every epoch. Rough size:
``seconds of audio x 100 frames/s x n_mels x 4 bytes`` per speed factor, e.g. 230 MB for
the 2 h digits train split, 11.5 GB for LibriSpeech-100 at 80 mels.
"""

from __future__ import annotations

import logging
from typing import Hashable

import torch

log = logging.getLogger(__name__)


class FeatureCache:
    """A bounded ``key -> tensor`` store that stops growing when its budget is spent."""

    def __init__(self, max_gb: float):
        if max_gb < 0:
            raise ValueError(f"dataloader.feature_cache_gb must be >= 0 (0 turns the cache off), got {max_gb}")
        self.max_bytes = int(max_gb * 2**30)
        self.bytes = 0
        self._store: dict[Hashable, torch.Tensor] = {}
        self._warned_full = False

    def __len__(self) -> int:
        return len(self._store)

    def get(self, key: Hashable) -> torch.Tensor | None:
        return self._store.get(key)

    def put(self, key: Hashable, value: torch.Tensor) -> bool:
        """Keep ``value`` under ``key``; False (and nothing kept) when it does not fit the budget."""
        size = value.numel() * value.element_size()
        if self.bytes + size > self.max_bytes:
            if not self._warned_full and self.max_bytes > 0:
                log.info("feature cache full (%.2f GB, %d entries): later utterances are recomputed every epoch; "
                         "raise dataloader.feature_cache_gb to keep them", self.bytes / 2**30, len(self._store))
                self._warned_full = True
            return False
        self._store[key] = value
        self.bytes += size
        return True
