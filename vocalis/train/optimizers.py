"""Optimizer and scheduler from training.yaml's ``optimizer:`` / ``scheduler:`` blocks."""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig

from vocalis.config.instantiate import instantiate


def configure_optimizers(model: torch.nn.Module, optimizer_cfg: DictConfig, scheduler_cfg: DictConfig | None,
                         interval: str) -> Any:
    """What ``LightningModule.configure_optimizers`` returns for these blocks."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameters: everything is frozen")
    optimizer = instantiate(optimizer_cfg, "optimizer", params=params)
    if scheduler_cfg is None:
        return optimizer
    scheduler = instantiate(scheduler_cfg, "scheduler", optimizer=optimizer)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval}}
