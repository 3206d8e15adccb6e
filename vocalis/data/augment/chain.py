"""Train-time augmentation of one utterance, reproducible per (seed, epoch, utterance).

Order (as in ESPnet and Kaldi recipes): speed perturbation and additive noise on the
waveform, then the frontend, then SpecAugment on the features, then normalisation.
The random state of an utterance is derived from ``(seed, epoch, utt_id)`` only, so a
result does not depend on worker count, batch composition or iteration order.
"""

from __future__ import annotations

import itertools
import zlib
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .noise import AddNoise
from .spec_augment import SpecAugment
from .speed import SpeedPerturb

__all__ = ["Augmentation", "build_augmentation", "utterance_rng"]

AUGMENT_KEYS = ("speed_perturb", "noise", "specaug", "in_collect_stats")
NOISE_KEYS = ("source", "snr_db", "prob")


def utterance_rng(seed: int, epoch: int, utt_id: str) -> np.random.Generator:
    """The generator for one utterance in one epoch (crc32 of the id keeps it stable across runs)."""
    return np.random.default_rng([int(seed), int(epoch), zlib.crc32(str(utt_id).encode("utf-8"))])


class Augmentation:
    """Waveform and feature augmentations applied to the training split.

    Args:
        wave_ops: callables ``(wave (N,), rng) -> wave (N',)``, in order.
        spec_augment: applied to features ``(T, D)`` after the frontend, or None.
        seed: base seed (training.yaml ``seed``).
    """

    def __init__(self, wave_ops: list[Callable[[np.ndarray, np.random.Generator], np.ndarray]],
                 spec_augment: SpecAugment | None, seed: int = 0):
        self.wave_ops, self.spec_augment, self.seed = wave_ops, spec_augment, int(seed)
        if self.spec_augment is not None:
            self.spec_augment.train()

    def rng(self, epoch: int, utt_id: str) -> np.random.Generator:
        return utterance_rng(self.seed, epoch, utt_id)

    def waveform_only(self) -> "Augmentation | None":
        """The waveform ops alone, or None without any: what feature statistics may see (SpecAugment's
        masks would pull the mean and variance toward the fill value)."""
        return Augmentation(self.wave_ops, None, self.seed) if self.wave_ops else None

    def wave(self, wave: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``(N,)`` -> ``(N',)``: every waveform op in order."""
        for op in self.wave_ops:
            wave = op(wave, rng)
        return wave

    @property
    def wave_is_discrete(self) -> bool:
        """Whether every waveform op is a choice among a few outcomes (``draw`` + ``apply``, like
        speed perturbation), so its result can be cached per choice; additive noise is not."""
        return all(hasattr(op, name) for op in self.wave_ops for name in ("draw", "apply", "choices"))

    def draw_wave_key(self, rng: np.random.Generator) -> tuple | None:
        """The choices of the waveform ops (``()`` when there are none), drawn from ``rng`` exactly as
        :meth:`wave` would draw them; None, drawing nothing, when they are not discrete."""
        if not self.wave_is_discrete:
            return None
        return tuple(op.draw(rng) for op in self.wave_ops)

    def wave_keys(self) -> list[tuple] | None:
        """Every key :meth:`draw_wave_key` can return (all combinations of the ops' ``choices``), or
        None when the waveform ops are not discrete."""
        if not self.wave_is_discrete:
            return None
        return list(itertools.product(*(op.choices for op in self.wave_ops)))

    def apply_wave_key(self, wave: np.ndarray, key: tuple) -> np.ndarray:
        """``(N,)`` -> ``(N',)``: the waveform ops with the choices of :meth:`draw_wave_key`."""
        for op, choice in zip(self.wave_ops, key):
            wave = op.apply(wave, choice)
        return wave

    @property
    def changes_length(self) -> bool:
        """Whether a waveform op changes the length (speed perturbation): see :meth:`length_factors`."""
        return any(hasattr(op, "length_factor") for op in self.wave_ops)

    def length_factors(self, epoch: int, utt_ids: Sequence[str]) -> np.ndarray | None:
        """``(N,)``: how many times longer each utterance comes out of the waveform ops in ``epoch``
        (``1 / f`` for speed factor ``f``), drawn exactly as :meth:`wave` draws them, without audio.
        None when no op changes the length.

        Ops that change the length have ``length_factor(choice)``; the ops up to the last of them
        must be discrete (``draw``), so their draws can be replayed. Ops without it keep the length.
        """
        resizing = [k for k, op in enumerate(self.wave_ops) if hasattr(op, "length_factor")]
        if not resizing:
            return None
        replayed = self.wave_ops[:resizing[-1] + 1]
        for op in replayed:
            if not hasattr(op, "draw"):
                raise ValueError(f"augmentation: {op!r} comes before an op that changes the length and has no draw(); "
                                 "put length-changing ops (speed perturbation) first")
        factors = np.ones(len(utt_ids), dtype=np.float64)
        for k, utt_id in enumerate(utt_ids):
            rng = self.rng(epoch, utt_id)
            for op in replayed:
                choice = op.draw(rng)
                if hasattr(op, "length_factor"):
                    factors[k] *= op.length_factor(choice)
        return factors

    def features(self, feats: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """``(T, D)`` -> ``(T, D)`` through SpecAugment (a torch generator seeded from ``rng``)."""
        if self.spec_augment is None:
            return feats
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        return self.spec_augment.augment_one(feats, generator)

    def __repr__(self) -> str:
        return f"Augmentation(wave={self.wave_ops}, spec={self.spec_augment}, seed={self.seed})"


def build_augmentation(cfg: Any, sample_rate: int = 16000, seed: int = 0,
                       base_dir: str | Path | None = None) -> Augmentation | None:
    """The ``augment:`` block of training.yaml, or None when it asks for nothing.

    ``speed_perturb``: list of factors; ``noise``: ``{source, snr_db, prob}`` (a relative
    ``source`` starts at ``base_dir``, the recipe folder); ``specaug``: SpecAugment keyword
    arguments (or a ``_target_`` block).
    """
    from omegaconf import OmegaConf

    from vocalis.config.instantiate import accepted_kwargs, instantiate
    from vocalis.config.schema import ConfigKeyError, suggest

    if cfg is None:
        return None
    plain = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    for key in plain:
        if key not in AUGMENT_KEYS:
            raise ConfigKeyError(f"unknown key 'augment.{key}'{suggest(key, list(AUGMENT_KEYS))}")
    ops: list[Callable] = []
    if plain.get("speed_perturb"):
        ops.append(SpeedPerturb(plain["speed_perturb"], sample_rate))
    noise = plain.get("noise")
    if noise:
        for key in noise:
            if key not in NOISE_KEYS:
                raise ConfigKeyError(f"unknown key 'augment.noise.{key}'{suggest(key, list(NOISE_KEYS))}")
        if "source" not in noise:
            raise ConfigKeyError("augment.noise needs 'source': a folder or .tsv manifest of noise recordings")
        source = noise["source"]
        if base_dir is not None and isinstance(source, str) and not Path(source).is_absolute():
            source = Path(base_dir) / source
        ops.append(AddNoise(source, noise.get("snr_db", (5.0, 20.0)), noise.get("prob", 1.0), sample_rate))
    spec = plain.get("specaug")
    spec_augment = None
    if spec and "_target_" in spec:
        spec_augment = instantiate(cfg.specaug, "augment.specaug")
    elif spec:
        known = sorted(accepted_kwargs(SpecAugment) or ())
        for key in spec:
            if key not in known:
                raise ConfigKeyError(f"unknown key 'augment.specaug.{key}'{suggest(key, known)}")
        spec_augment = SpecAugment(**spec)
    if not ops and spec_augment is None:
        return None
    return Augmentation(ops, spec_augment, seed)
