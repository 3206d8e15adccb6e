"""LoRA adapters (Hu et al., 2021) on named ``nn.Linear`` modules: the ``peft:`` block.

::

    peft:
      method: lora
      r: 8
      alpha: 16
      dropout: 0.0
      target_modules: ["encoder.blocks.*.att.qkv", "encoder.blocks.*.att.out"]

``apply_lora`` wraps every matching Linear as ``W x + (alpha / r) * B A x`` with ``B``
zero-initialised (the wrapped model starts equal to the base) and freezes everything else,
so only adapters train. Adapters are saved in the PEFT library's layout
(``adapter_model.safetensors`` with ``base_model.model.<module>.lora_A.weight`` names, and
``adapter_config.json``); ``merge_lora`` folds them into plain Linear weights, giving a model
with the base model's parameter names.
"""

from __future__ import annotations

import fnmatch
import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vocalis.tasks.asr.dropout import Dropout

PEFT_KEYS = {"method", "r", "alpha", "dropout", "target_modules"}
PEFT_PREFIX = "base_model.model."


class LoRALinear(nn.Module):
    """``base(x) + scaling * lora_B(lora_A(dropout(x)))``; ``(..., in) -> (..., out)``."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float):
        super().__init__()
        if r < 1:
            raise ValueError(f"peft.r must be >= 1, got {r}")
        self.base, self.scaling = base, alpha / r
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scaling * self.lora_B(self.lora_A(self.dropout(x)))

    def merged(self) -> nn.Linear:
        """A plain Linear with the adapter folded into its weight."""
        merged = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + self.scaling * self.lora_B.weight @ self.lora_A.weight)
            if self.base.bias is not None:
                merged.bias.copy_(self.base.bias)
        return merged


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def check_peft_config(cfg: Any) -> dict:
    cfg = dict(cfg)
    unknown = set(cfg) - PEFT_KEYS
    if unknown:
        raise KeyError(f"peft: unknown keys {sorted(unknown)}; allowed: {sorted(PEFT_KEYS)}")
    if cfg.get("method", "lora") != "lora":
        raise ValueError(f"peft.method: {cfg['method']!r} is not supported; use lora")
    if not cfg.get("target_modules"):
        raise ValueError("peft.target_modules is empty: name the Linear modules to adapt (fnmatch patterns, "
                         "e.g. 'encoder.blocks.*.att.qkv')")
    return {"r": int(cfg.get("r", 8)), "alpha": float(cfg.get("alpha", 16)), "dropout": float(cfg.get("dropout", 0.0)),
            "target_modules": list(cfg["target_modules"])}


def apply_lora(model: nn.Module, peft_cfg: Any) -> list[str]:
    """Wrap the matching Linear modules and freeze every non-adapter parameter; returns wrapped names."""
    cfg = check_peft_config(peft_cfg)
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    targets = [n for n in linears if any(fnmatch.fnmatchcase(n, p) for p in cfg["target_modules"])]
    if not targets:
        raise ValueError(f"peft.target_modules {cfg['target_modules']} match no nn.Linear; Linear modules are "
                         f"e.g. {linears[:8]}")
    inside_mha = [n for n in targets if isinstance(model.get_submodule(n.rpartition(".")[0]) if "." in n else model,
                                                   nn.MultiheadAttention)]
    if inside_mha:
        raise ValueError(f"peft.target_modules: {inside_mha} belong to torch.nn.MultiheadAttention, which reads their "
                         "weights directly, so an adapter there would be ignored; target the feed-forward Linear "
                         "layers, or a model whose attention uses plain Linear projections (e.g. the conformer)")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in targets:
        _set_module(model, name, LoRALinear(model.get_submodule(name), cfg["r"], cfg["alpha"], cfg["dropout"]))
    return targets


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear by its merged Linear, in place; returns the model."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            _set_module(model, name, module.merged())
    return model


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapter weights, with PEFT's names."""
    return {f"{PEFT_PREFIX}{k}": v.detach().clone() for k, v in model.state_dict().items()
            if ".lora_A." in k or ".lora_B." in k}


def save_adapter(model: nn.Module, peft_cfg: Any, folder: str | Path) -> Path:
    """Write ``adapter_model.safetensors`` and ``adapter_config.json`` into ``folder``."""
    from safetensors.torch import save_file

    cfg = check_peft_config(peft_cfg)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(adapter_state_dict(model), str(folder / "adapter_model.safetensors"))
    config = {"peft_type": "LORA", "r": cfg["r"], "lora_alpha": cfg["alpha"], "lora_dropout": cfg["dropout"],
              "target_modules": cfg["target_modules"], "bias": "none"}
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
    return folder


def load_adapter(model: nn.Module, folder: str | Path) -> None:
    """Load adapter weights saved by :func:`save_adapter` into a LoRA-wrapped model."""
    from safetensors.torch import load_file

    state = {k[len(PEFT_PREFIX):]: v for k, v in load_file(str(Path(folder) / "adapter_model.safetensors")).items()}
    missing = [k for k in model.state_dict() if (".lora_A." in k or ".lora_B." in k) and k not in state]
    if missing:
        raise KeyError(f"{folder}: adapter weights missing for {missing[:5]}; was it saved from this model and peft config?")
    model.load_state_dict(state, strict=False)
