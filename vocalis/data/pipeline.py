"""From a dataset item to model inputs: waveform -> features -> normalised features; text -> ids."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from vocalis.data.augment import Augmentation
from vocalis.data.tokenizer import Tokenizer


class SpeechTextPipeline:
    """Turn ``{"utt_id", "speech": (N,) waveform, "text": str, ...}`` into tensors.

    Output: ``speech`` ``(T, D)`` float32 features (or the ``(N,)`` waveform when
    ``frontend`` is None), ``text`` ``(L,)`` int64 token ids when a tokenizer is given,
    other fields passed through unchanged.

    With ``augmentation`` (train split only) the order is: waveform augmentation
    (speed, noise) -> frontend -> SpecAugment -> normaliser; its randomness is a function
    of ``(augmentation.seed, epoch, utt_id)``.
    """

    def __init__(self, frontend: Callable | None, normalizer: Callable | None, tokenizer: Tokenizer | None,
                 augmentation: Augmentation | None = None):
        self.frontend, self.normalizer, self.tokenizer = frontend, normalizer, tokenizer
        self.augmentation = augmentation

    def with_augmentation(self, augmentation: Augmentation | None) -> "SpeechTextPipeline":
        """A copy of this pipeline that augments (the train split's pipeline)."""
        return SpeechTextPipeline(self.frontend, self.normalizer, self.tokenizer, augmentation)

    def features(self, speech: Any, utt_id: str = "?", epoch: int = 0) -> torch.Tensor:
        rng, wave_key = self.draw(utt_id, epoch)
        return self.finish_features(self.frontend_features(speech, utt_id, rng, wave_key), rng)

    def draw(self, utt_id: str, epoch: int) -> tuple[np.random.Generator | None, tuple | None]:
        """The utterance's generator for this epoch and, when the waveform augmentation is a
        discrete choice (speed factors), that choice: the key under which the frontend output
        can be cached. ``(None, ())`` without augmentation; ``(rng, None)`` when not cacheable."""
        if self.augmentation is None:
            return None, ()
        rng = self.augmentation.rng(epoch, utt_id)
        return rng, self.augmentation.draw_wave_key(rng)

    def wave_keys(self) -> list[tuple] | None:
        """Every key :meth:`draw` can return: ``[()]`` without augmentation, None when not cacheable."""
        return [()] if self.augmentation is None else self.augmentation.wave_keys()

    def frontend_features(self, speech: Any, utt_id: str, rng: np.random.Generator | None,
                          wave_key: tuple | None) -> torch.Tensor:
        """Waveform augmentation (the drawn ``wave_key``, or drawn from ``rng`` when it is None) and
        the frontend: ``(N,)`` -> ``(T, D)``. Deterministic given ``wave_key``."""
        wave = np.asarray(speech, dtype=np.float32)
        if wave.ndim != 1 or wave.size == 0:
            raise ValueError(f"utterance {utt_id}: 'speech' must be a non-empty mono waveform (N,), got shape {wave.shape}")
        if self.augmentation is not None:
            wave = (self.augmentation.wave(wave, rng) if wave_key is None
                    else self.augmentation.apply_wave_key(wave, wave_key))
        feats = torch.as_tensor(wave)
        return self.frontend(feats) if self.frontend is not None else feats

    def finish_features(self, feats: torch.Tensor, rng: np.random.Generator | None) -> torch.Tensor:
        """SpecAugment (train) and normalisation of the frontend output (not in place)."""
        if rng is not None and feats.dim() == 2:
            feats = self.augmentation.features(feats, rng)
        if self.normalizer is not None:
            feats = self.normalizer(feats)
        return feats

    def with_text(self, item: dict, feats: torch.Tensor) -> dict:
        """The model inputs: ``item`` with ``speech`` set to ``feats`` and ``text`` as token ids."""
        out = dict(item)
        out["speech"] = feats
        utt_id = str(item.get("utt_id", "?"))
        if self.tokenizer is not None and "text" in item:
            ids = self.tokenizer.encode(item["text"])
            if not ids:
                raise ValueError(f"utterance {utt_id}: transcript {item['text']!r} encodes to no tokens")
            out["text"] = torch.tensor(ids, dtype=torch.long)
        return out

    def __call__(self, item: dict, epoch: int = 0) -> dict:
        return self.with_text(item, self.features(speech_of(item), str(item.get("utt_id", "?")), epoch))


def speech_of(item: dict) -> Any:
    """The waveform of a dataset item, or an error naming the utterance and the fields it has."""
    if "speech" not in item:
        raise KeyError(f"utterance {item.get('utt_id', '?')}: the dataset item has no 'speech' field "
                       f"(fields: {sorted(item)})")
    return item["speech"]


def without_speech(item: dict) -> dict:
    """The fields of a dataset item other than its waveform (what a feature cache keeps beside the features)."""
    return {k: v for k, v in item.items() if k != "speech"}


def build_frontend(cfg: Any) -> Callable | None:
    """The ``frontend:`` node of training.yaml (e.g. Fbank), or None for raw waveforms."""
    from vocalis.config.instantiate import instantiate

    node = cfg.get("frontend")
    if node is None:
        return None
    frontend = instantiate(node, "frontend")
    if isinstance(frontend, torch.nn.Module):
        frontend.eval()  # dither and other train-only randomness stay off outside training
    return frontend


def stats_file(cfg: Any) -> str:
    """Where collect_stats writes the global feature statistics."""
    return f"{cfg.stats_dir}/train/feats_stats.npz"


def sample_rate_of(cfg: Any, default: int = 16000) -> int:
    """The waveform rate the frontend expects (``frontend.sample_rate``), else ``default``."""
    frontend = cfg.get("frontend")
    return int(frontend.get("sample_rate", default)) if frontend is not None else default


def build_augmentation_of(cfg: Any) -> Augmentation | None:
    """The train-time augmentation a training config asks for (``augment:``), or None."""
    from vocalis.data.augment import build_augmentation

    return build_augmentation(cfg.get("augment"), sample_rate_of(cfg), int(cfg.get("seed", 0)),
                              base_dir=cfg.get("recipe_dir"))


def build_pipeline(cfg: Any, with_tokenizer: bool = True) -> SpeechTextPipeline:
    """The pipeline a training config describes: frontend, ``normalize:``, tokenizer (no augmentation)."""
    from vocalis.data.normalize import build_normalizer

    tokenizer = Tokenizer.from_dir(cfg.tokenizer.save_path) if with_tokenizer else None
    return SpeechTextPipeline(build_frontend(cfg), build_normalizer(cfg.get("normalize"), stats_file(cfg)), tokenizer)
