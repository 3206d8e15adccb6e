"""The LightningModule that trains any model satisfying :mod:`vocalis.train.model_contract`."""

from __future__ import annotations

import lightning as L
import torch
from omegaconf import DictConfig

from vocalis.config.instantiate import instantiate
from vocalis.train.model_contract import LossFn, StepResult, forward_kwargs, interpret_output


class VocalisModule(L.LightningModule):
    """Wraps a plain ``torch.nn.Module``; logs ``train/<stat>`` and ``valid/<stat>``.

    Args:
        model: the model built from ``model:`` in training.yaml.
        loss_fn: the ``loss:`` block, for models that return raw outputs.
        optimizer: ``optimizer:`` config node (``_target_`` + kwargs; ``params`` is added).
        scheduler: ``scheduler:`` node (``optimizer`` is added), or None.
        scheduler_interval: ``step`` or ``epoch``.
    """

    def __init__(self, model: torch.nn.Module, loss_fn: LossFn | None, optimizer: DictConfig,
                 scheduler: DictConfig | None = None, scheduler_interval: str = "step"):
        super().__init__()
        if scheduler_interval not in ("step", "epoch"):
            raise ValueError(f"scheduler_interval must be 'step' or 'epoch', got {scheduler_interval!r}")
        self.model, self.loss_fn = model, loss_fn
        self.optimizer_cfg, self.scheduler_cfg, self.scheduler_interval = optimizer, scheduler, scheduler_interval

    def _step(self, batch: dict) -> StepResult:
        output = self.model(**forward_kwargs(self.model, batch))
        return interpret_output(output, batch, self.model, self.loss_fn)

    def _log_step(self, prefix: str, result: StepResult, on_step: bool) -> None:
        self.log(f"{prefix}/loss", result.loss.detach(), batch_size=result.weight, prog_bar=True,
                 on_step=on_step, on_epoch=True)
        for key, value in result.stats.items():
            if key != "loss":
                self.log(f"{prefix}/{key}", value, batch_size=result.weight, on_step=on_step, on_epoch=True)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        result = self._step(batch)
        self._log_step("train", result, on_step=True)
        return result.loss

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._log_step("valid", self._step(batch), on_step=False)

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("no trainable parameters: everything is frozen")
        optimizer = instantiate(self.optimizer_cfg, "optimizer", params=params)
        if self.scheduler_cfg is None:
            return optimizer
        scheduler = instantiate(self.scheduler_cfg, "scheduler", optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval}}
