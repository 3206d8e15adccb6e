"""Speech2Text: a trained experiment as a callable ``waveform(s) -> {"text": ...}``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from omegaconf import OmegaConf

from vocalis.data.collate import collate
from vocalis.data.pipeline import build_pipeline
from vocalis.decode.ctc_greedy import ctc_greedy
from vocalis.recipe import activate_recipe
from vocalis.train.model_contract import frame_logits

log = logging.getLogger(__name__)
DECODE_METHODS = ("ctc_greedy",)


def find_checkpoint(exp_dir: Path, checkpoint: str) -> Path:
    """``best`` -> the averaged best weights, ``last`` -> ``last.pth``, else a path (absolute or in exp_dir)."""
    if checkpoint == "best":
        found = sorted(exp_dir.glob("*.ave_*best.pth"))
        if not found:
            raise FileNotFoundError(f"no averaged checkpoint (*.ave_*best.pth) in {exp_dir}: run the train stage, "
                                    "or set model.checkpoint: last")
        return found[0]
    path = exp_dir / "last.pth" if checkpoint == "last" else Path(checkpoint)
    path = path if path.is_absolute() else exp_dir / path
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist (model.checkpoint: {checkpoint!r})")
    return path


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Load a plain state dict (``.pth``) or a Lightning ``.ckpt`` strictly into ``model``."""
    if path.suffix == ".ckpt":
        from vocalis.train.averaging import model_state_dict

        state = model_state_dict(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise KeyError(f"{path} does not fit {type(model).__name__}: missing {missing[:5]}, unexpected "
                       f"{unexpected[:5]}; was it trained with this exp_dir's config.yaml?")


class Speech2Text:
    """Transcribe waveforms with the model, frontend and tokenizer of a trained experiment.

    Args:
        exp_dir: the experiment folder written by the train stage (holds ``config.yaml``).
        checkpoint: ``best`` (average of the best checkpoints), ``last``, or a weights path.
        device: torch device string.
        decode: decoding method; ``ctc_greedy`` works for every model with CTC logits.

    ``model(speech)`` with a ``(N,)`` float waveform returns ``{"text": str}``;
    with a list of waveforms it returns a list of such dicts, decoded as one padded batch.
    """

    def __init__(self, exp_dir: str | Path, checkpoint: str = "best", device: str = "cpu", decode: str = "ctc_greedy"):
        if decode not in DECODE_METHODS:
            raise ValueError(f"decode: {decode!r} is not one of {DECODE_METHODS}")
        self.exp_dir = Path(exp_dir)
        config_file = self.exp_dir / "config.yaml"
        if not config_file.is_file():
            raise FileNotFoundError(f"{config_file} does not exist: train the experiment first (stage train)")
        self.cfg = OmegaConf.load(config_file)
        if Path(self.cfg.recipe_dir).is_dir():
            activate_recipe(self.cfg.recipe_dir)
        from vocalis.stages.train import build_model

        self.pipeline = build_pipeline(self.cfg)
        self.tokenizer = self.pipeline.tokenizer
        self.model = build_model(self.cfg)
        self.checkpoint_path = find_checkpoint(self.exp_dir, checkpoint)
        load_weights(self.model, self.checkpoint_path)
        self.device = torch.device(device)
        self.model.to(self.device).eval()

    @torch.inference_mode()
    def transcribe(self, waveforms: Sequence[Any]) -> list[dict]:
        feats = [{"speech": self.pipeline.features(w)} for w in waveforms]
        batch = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in collate(feats).items()}
        logits, lengths = frame_logits(self.model, batch)
        return [{"text": self.tokenizer.decode(ids)} for ids in ctc_greedy(logits, lengths)]

    def __call__(self, speech: Any) -> dict | list[dict]:
        single = isinstance(speech, (np.ndarray, torch.Tensor)) and speech.ndim == 1
        results = self.transcribe([speech] if single else list(speech))
        return results[0] if single else results
