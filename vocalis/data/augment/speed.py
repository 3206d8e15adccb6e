"""Speed perturbation: play the waveform faster or slower (tempo and pitch change together).

As Kaldi's ``sox speed`` and ESPnet's ``speed_perturb``: a factor ``f`` resamples the
waveform from ``f * sample_rate`` to ``sample_rate``, so an utterance of ``N`` samples
becomes ``ceil(N / f)`` samples and a tone at ``h`` Hz moves to ``f * h`` Hz.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from vocalis.data.audio import resample

__all__ = ["SpeedPerturb"]


class SpeedPerturb:
    """Draw one factor per utterance from ``factors`` (uniformly) and apply it.

    Args:
        factors: e.g. ``(0.9, 1.0, 1.1)`` (the classic 3-way perturbation).
        sample_rate: rate of the waveforms; factors must make ``f * sample_rate`` an integer.

    Advice: 0.9/1.0/1.1 is the usual choice for 100-1000 h corpora; keep 1.0 in the list
    so the clean speed is seen too.
    """

    def __init__(self, factors: Sequence[float] = (0.9, 1.0, 1.1), sample_rate: int = 16000):
        self.factors = tuple(float(f) for f in factors)
        if not self.factors or any(f <= 0 for f in self.factors):
            raise ValueError(f"augment.speed_perturb: factors must be positive numbers, got {list(factors)}")
        self.sample_rate = int(sample_rate)
        for f in self.factors:
            if abs(f * self.sample_rate - round(f * self.sample_rate)) > 1e-6:
                raise ValueError(f"augment.speed_perturb: factor {f} x {self.sample_rate} Hz is not a whole rate; "
                                 "use factors with at most a few decimals (e.g. 0.9, 1.1)")

    def apply(self, wave: np.ndarray, factor: float) -> np.ndarray:
        """``(N,)`` -> ``(ceil(N / factor),)`` float32."""
        if factor == 1.0:
            return np.asarray(wave, dtype=np.float32)
        return resample(wave, int(round(factor * self.sample_rate)), self.sample_rate)

    @staticmethod
    def length_factor(factor: float) -> float:
        """How many times longer :meth:`apply` makes a waveform for ``factor`` (``1 / factor``)."""
        return 1.0 / factor

    @property
    def choices(self) -> tuple[float, ...]:
        """Every value :meth:`draw` can return."""
        return self.factors

    def draw(self, rng: np.random.Generator) -> float:
        """The factor for one utterance; ``op(wave, rng) == op.apply(wave, op.draw(rng))``."""
        return self.factors[int(rng.integers(len(self.factors)))]

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.apply(wave, self.draw(rng))

    def __repr__(self) -> str:
        return f"SpeedPerturb(factors={list(self.factors)}, sample_rate={self.sample_rate})"
