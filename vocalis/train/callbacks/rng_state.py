"""Random-number-generator state in checkpoints, so a resumed run draws what the
uninterrupted one would have (dropout masks, anything seeded globally).

Lightning restores model, optimizer, scheduler, loop and loader state, but not the
global RNGs. Restoring them when the checkpoint loads would not be enough either: the
resumed run's sanity check and loader start-up consume random numbers the uninterrupted
run consumed at other times. So the saved state is applied at the first training batch
after the restore, the point where the saved run continued.
"""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch


def collect_rng_states() -> dict[str, Any]:
    """Python, NumPy, torch (and CUDA) RNG states as tensors and ints, loadable with ``weights_only=True``."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    states: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate(),
                              "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)),
                                        "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)}}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    n = states["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class RngStateCallback(L.Callback):
    """Saves the Python, NumPy and torch RNG states; replays them at the next training batch."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"rng": collect_rng_states()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pending = state.get("rng")

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if self._pending is not None:
            set_rng_states(self._pending)
            self._pending = None
