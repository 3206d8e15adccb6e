"""Exponential moving average of the model's weights (``ema:`` in training.yaml).

After every optimizer step ``ema = decay * ema + (1 - decay) * weight`` for each floating
point tensor of the model's state dict (integer buffers are copied). The average starts
from the weights at the start of training, lives on the model's device in float32, is
saved in Lightning checkpoints (resume continues it), and is written as plain weights to
``exp_dir/ema.pth`` at the end; inference selects it with ``checkpoint: ema.pth``.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch

from vocalis.train.averaging import save_weights


class EMACallback(L.Callback):
    """Keeps ``self.shadow`` (name -> tensor), the EMA of ``module.model``'s state dict."""

    def __init__(self, decay: float = 0.999, path: str | Path | None = None):
        if not 0.0 < float(decay) < 1.0:
            raise ValueError(f"ema.decay must be between 0 and 1 (e.g. 0.999), got {decay}")
        self.decay = float(decay)
        self.path = Path(path) if path is not None else None
        self.shadow: dict[str, torch.Tensor] = {}
        self.updates = 0
        self._last_step = -1

    @staticmethod
    def _weights(module: L.LightningModule) -> dict[str, torch.Tensor]:
        return module.model.state_dict()

    def on_fit_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not self.shadow:  # a resumed run gets its average from the checkpoint
            self.shadow = {k: v.detach().clone().float() if v.is_floating_point() else v.detach().clone()
                           for k, v in self._weights(module).items()}

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        # after Lightning restored a checkpoint's step (on_fit_start runs before): with gradient
        # accumulation the first micro-batches of a resumed run must not count as a step
        self._last_step = trainer.global_step

    @torch.no_grad()
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self._last_step:  # accumulating gradients: no step yet
            return
        self._last_step = trainer.global_step
        if not outputs or (isinstance(outputs, dict) and outputs.get("nonfinite")):  # a skipped batch changed nothing
            return
        for name, value in self._weights(module).items():
            shadow = self.shadow[name]
            if shadow.device != value.device:
                shadow = self.shadow[name] = shadow.to(value.device)
            if value.is_floating_point():
                shadow.mul_(self.decay).add_(value.detach().float(), alpha=1.0 - self.decay)
            else:
                shadow.copy_(value)
        self.updates += 1

    def ema_state_dict(self, like: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """The averaged weights on CPU, in the dtypes of ``like`` (the model's state dict) when given."""
        return {k: (v.to(like[k].dtype) if like is not None else v).detach().cpu().clone() for k, v in self.shadow.items()}

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.path is not None and trainer.is_global_zero and self.shadow:
            save_weights(self.ema_state_dict(self._weights(module)), self.path)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "shadow": self.ema_state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.updates, self.shadow = int(state["updates"]), {k: v.clone() for k, v in state["shadow"].items()}
