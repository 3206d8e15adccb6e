"""Reading model weights from any of the files Vocalis writes, without unpickling objects."""

from __future__ import annotations

from pathlib import Path

import torch

WEIGHT_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")


def best_weights_in(exp_dir: Path) -> Path:
    """The averaged best weights of a trained experiment folder (``*.ave_*best.pth``)."""
    found = sorted(exp_dir.glob("*.ave_*best.pth"))
    if not found:
        raise FileNotFoundError(f"no averaged checkpoint (*.ave_*best.pth) in {exp_dir}: run its train stage, "
                                "or name a weights file (e.g. model.checkpoint: last)")
    return found[0]


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A plain state dict from ``.pth``/``.pt`` (``torch.save`` of a dict), a Lightning ``.ckpt``
    (the wrapped model's weights), ``.safetensors``, or an experiment folder (its averaged best)."""
    path = Path(path)
    if path.is_dir():
        path = best_weights_in(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if path.suffix == ".ckpt":
        from vocalis.train.averaging import model_state_dict

        return model_state_dict(path)
    if path.suffix not in WEIGHT_SUFFIXES:
        raise ValueError(f"{path}: unknown weights format; expected one of {', '.join(WEIGHT_SUFFIXES)} "
                         "or an experiment folder")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a plain state dict (name -> tensor)")
    return state
