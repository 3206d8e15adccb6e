"""Model weights out of Lightning checkpoints, and their average over the best ones."""

from __future__ import annotations

import os
from pathlib import Path

import torch

PREFIX = "model."


def model_state_dict(checkpoint: str | Path) -> dict[str, torch.Tensor]:
    """The wrapped model's weights from a Lightning ``.ckpt`` (``model.`` prefix removed)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    if "state_dict" not in state:
        raise KeyError(f"{checkpoint} is not a Lightning checkpoint (no 'state_dict')")
    return {k[len(PREFIX):]: v for k, v in state["state_dict"].items() if k.startswith(PREFIX)}


def average_state_dicts(paths: list[str | Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of float weights; integer buffers (counters) are taken from the first."""
    if not paths:
        raise ValueError("no checkpoints to average")
    total = model_state_dict(paths[0])
    for path in paths[1:]:
        other = model_state_dict(path)
        if other.keys() != total.keys():
            raise KeyError(f"{path} has different parameter names from {paths[0]}; cannot average")
        for key, value in other.items():
            if value.is_floating_point():
                total[key] = total[key] + value
    return {k: v / len(paths) if v.is_floating_point() else v for k, v in total.items()}


def save_weights(state: dict[str, torch.Tensor], path: str | Path) -> Path:
    """Atomic ``torch.save`` of a plain state dict (loadable with ``weights_only=True``)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path
