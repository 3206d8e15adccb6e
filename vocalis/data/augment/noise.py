"""Additive noise at a signal-to-noise ratio drawn per utterance.

``mixture = speech + g * noise`` with ``g`` chosen so that
``10 log10(P(speech) / P(g * noise)) = snr_db`` exactly, where ``P`` is the mean power
over the utterance. The noise is a random excerpt of a noise file (looped when shorter).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from vocalis.data.audio import load_audio
from vocalis.data.manifest import read_manifest

__all__ = ["AddNoise", "noise_files"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".sph")


def noise_files(source: str | Path | Sequence[str | Path]) -> list[Path]:
    """Noise files from a folder (searched recursively), a TSV manifest (``path`` column) or a list."""
    if isinstance(source, (list, tuple)):
        paths = [Path(p) for p in source]
    else:
        source = Path(source)
        if source.is_dir():
            paths = sorted(p for p in source.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        elif source.suffix == ".tsv":
            paths = [Path(r["path"]) for r in read_manifest(source)]
        else:
            raise FileNotFoundError(f"augment.noise.source {source}: not a folder of audio files or a .tsv "
                                    "manifest; point it at your noise corpus (e.g. MUSAN noise/)")
    if not paths:
        raise FileNotFoundError(f"augment.noise.source {source}: no audio files ({', '.join(AUDIO_SUFFIXES)}) found")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"augment.noise.source: {len(missing)} noise files do not exist, e.g. {missing[0]}")
    return paths


class AddNoise:
    """Mix a noise excerpt into a waveform at an SNR drawn uniformly from ``snr_db``.

    Args:
        source: folder, TSV manifest or list of noise files (read once, kept in memory).
        snr_db: ``(low, high)`` in dB, e.g. ``(5, 20)``.
        prob: chance that an utterance gets noise at all.
        sample_rate: noise files at another rate are resampled.

    Advice: keep the noise set small enough for memory (it is loaded once per worker).
    """

    def __init__(self, source: str | Path | Sequence[str | Path], snr_db: Sequence[float] = (5.0, 20.0),
                 prob: float = 1.0, sample_rate: int = 16000):
        if len(snr_db) != 2 or snr_db[0] > snr_db[1]:
            raise ValueError(f"augment.noise.snr_db must be [low, high] with low <= high, got {list(snr_db)}")
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"augment.noise.prob must lie in [0, 1], got {prob}")
        self.files = noise_files(source)
        self.snr_db, self.prob, self.sample_rate = (float(snr_db[0]), float(snr_db[1])), float(prob), int(sample_rate)
        self._noises: list[np.ndarray] | None = None

    @property
    def noises(self) -> list[np.ndarray]:
        if self._noises is None:  # lazily, so a DataLoader worker loads them once
            self._noises = [load_audio(p, self.sample_rate, utt_id=f"noise {p.name}", multichannel="mean")[0]
                            for p in self.files]
        return self._noises

    @staticmethod
    def mix(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
        """``speech + g * noise`` at exactly ``snr_db``; ``noise`` must be as long as ``speech``."""
        p_speech = float(np.mean(np.square(speech, dtype=np.float64)))
        p_noise = float(np.mean(np.square(noise, dtype=np.float64)))
        if p_noise == 0.0 or p_speech == 0.0:
            return np.asarray(speech, dtype=np.float32)
        gain = np.sqrt(p_speech / (p_noise * 10.0 ** (snr_db / 10.0)))
        return (speech + gain * noise).astype(np.float32)

    def excerpt(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n,)`` samples of a random noise file from a random offset (looped if shorter)."""
        noise = self.noises[int(rng.integers(len(self.noises)))]
        start = int(rng.integers(len(noise)))
        reps = -(-(start + n) // len(noise))
        return np.tile(noise, reps)[start:start + n]

    def __call__(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.prob < 1.0 and rng.random() >= self.prob:
            return wave
        snr = float(rng.uniform(*self.snr_db))
        return self.mix(wave, self.excerpt(len(wave), rng), snr)

    def __repr__(self) -> str:
        return f"AddNoise({len(self.files)} files, snr_db={list(self.snr_db)}, prob={self.prob})"
