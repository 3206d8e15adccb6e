"""The model a config names, built without the training machinery.

Inference (:class:`~vocalis.infer.speech2text.Speech2Text`, bundles, Dask workers) builds
models through this module, so loading a model does not import Lightning: that import
(torchmetrics, ``torch._dynamo``, tensorboard) took ~6 s of a 7 s one-file ``vocalis transcribe``
on a 2-core machine.
"""

from __future__ import annotations

import torch

from vocalis.config.instantiate import instantiate
from vocalis.config.loading import to_plain
from vocalis.train.lora import apply_lora


def build_model(cfg, with_peft: bool = True) -> torch.nn.Module:
    """The model named by ``model:`` (a ``_target_`` block; the recipe folder is importable),
    or built by the task bridge when ``task:`` is set; LoRA-wrapped when ``peft:`` is set
    and ``with_peft``."""
    from vocalis.tasks.registry import resolve_task

    cfg = resolve_task(cfg)
    model = instantiate(cfg.model, "model")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model: {cfg.model._target_} built a {type(model).__name__}, not a torch.nn.Module")
    if with_peft and cfg.get("peft"):
        apply_lora(model, to_plain(cfg.peft))
    return model
