"""Plain ``nn.Linear``/``nn.LayerNorm`` modules as direct functional calls, and several
Linears over one input as one matrix product.

Both keep adapters working: a module that is not exactly ``nn.Linear``/``nn.LayerNorm``
(a LoRA wrapper, an int8 ``quantize_int8`` Linear) is called as itself, so its own forward
runs. Fusing saves a matrix product's fixed costs and, in training, the sum of the input
gradients of the separate products.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

Fn = Callable[[torch.Tensor], torch.Tensor]


def as_function(module: nn.Module) -> Fn:
    """A plain ``nn.Linear``/``nn.LayerNorm`` as a direct functional call; any other module as itself."""
    if type(module) is nn.Linear:
        return partial(F.linear, weight=module.weight, bias=module.bias)
    if type(module) is nn.LayerNorm:
        return partial(F.layer_norm, normalized_shape=module.normalized_shape, weight=module.weight,
                       bias=module.bias, eps=module.eps)
    return module


def fused_projection(linears: tuple[nn.Module, ...]) -> Fn:
    """``(..., D) -> (..., sum of out features)``: the outputs of ``linears`` side by side, as
    one matrix product when they are all plain ``nn.Linear`` with biases (their weights are
    concatenated at each call, so training updates and checkpoints keep the separate ones)."""
    if all(type(m) is nn.Linear and m.bias is not None for m in linears):
        weight = torch.cat([m.weight for m in linears])
        bias = torch.cat([m.bias for m in linears])
        return partial(F.linear, weight=weight, bias=bias)
    functions = [as_function(m) for m in linears]
    return lambda x: torch.cat([f(x) for f in functions], dim=-1)
