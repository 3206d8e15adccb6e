"""From a dataset item to model inputs: waveform -> features -> normalised features; text -> ids."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from vocalis.data.tokenizer import Tokenizer


class SpeechTextPipeline:
    """Turn ``{"utt_id", "speech": (N,) waveform, "text": str, ...}`` into tensors.

    Output: ``speech`` ``(T, D)`` float32 features (or the ``(N,)`` waveform when
    ``frontend`` is None), ``text`` ``(L,)`` int64 token ids when a tokenizer is given,
    other fields passed through unchanged.
    """

    def __init__(self, frontend: Callable | None, normalizer: Callable | None, tokenizer: Tokenizer | None):
        self.frontend, self.normalizer, self.tokenizer = frontend, normalizer, tokenizer

    def features(self, speech: Any, utt_id: str = "?") -> torch.Tensor:
        wave = torch.as_tensor(np.asarray(speech, dtype=np.float32))
        if wave.ndim != 1 or wave.numel() == 0:
            raise ValueError(f"utterance {utt_id}: 'speech' must be a non-empty mono waveform (N,), got shape {tuple(wave.shape)}")
        feats = self.frontend(wave) if self.frontend is not None else wave
        if self.normalizer is not None:
            feats = self.normalizer(feats)
        return feats

    def __call__(self, item: dict) -> dict:
        out = dict(item)
        utt_id = str(item.get("utt_id", "?"))
        if "speech" not in item:
            raise KeyError(f"utterance {utt_id}: the dataset item has no 'speech' field (fields: {sorted(item)})")
        out["speech"] = self.features(item["speech"], utt_id)
        if self.tokenizer is not None and "text" in item:
            ids = self.tokenizer.encode(item["text"])
            if not ids:
                raise ValueError(f"utterance {utt_id}: transcript {item['text']!r} encodes to no tokens")
            out["text"] = torch.tensor(ids, dtype=torch.long)
        return out


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


def build_pipeline(cfg: Any, with_tokenizer: bool = True) -> SpeechTextPipeline:
    """The pipeline a training config describes: frontend, ``normalize:``, tokenizer."""
    from vocalis.data.normalize import build_normalizer

    tokenizer = Tokenizer.from_dir(cfg.tokenizer.save_path) if with_tokenizer else None
    return SpeechTextPipeline(build_frontend(cfg), build_normalizer(cfg.get("normalize"), stats_file(cfg)), tokenizer)
