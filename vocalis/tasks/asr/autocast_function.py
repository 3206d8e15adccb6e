"""Custom autograd Functions under ``torch.autocast``.

Autocast casts the inputs of the operators it knows (``mm``, ``conv1d``, ...) but not those
of a custom :class:`torch.autograd.Function`. Inside its forward the products would run in
bfloat16 while the saved tensors and parameters stay float32, and its backward, which runs
outside autocast, would then mix the two dtypes (``mat1 and mat2 must have the same
dtype``). :func:`apply_autocast` runs such a Function the way autocast runs a convolution:
its floating-point tensors cast to the autocast dtype once, autocast off inside, so forward
and backward see one dtype and the parameters' gradients flow back through the casts in
float32.
"""

from __future__ import annotations

import torch


def apply_autocast(function: type[torch.autograd.Function], *args):
    """``function.apply(*args)``; under autocast for the first tensor's device, with the
    tensors autocast would cast (floating point, not float64) cast to the autocast dtype and
    autocast off inside."""
    device = next(a.device.type for a in args if isinstance(a, torch.Tensor))
    if not torch.is_autocast_enabled(device):
        return function.apply(*args)
    dtype = torch.get_autocast_dtype(device)
    cast = [a.to(dtype) if _eligible(a) else a for a in args]
    with torch.autocast(device, enabled=False):
        return function.apply(*cast)


def _eligible(a) -> bool:
    return isinstance(a, torch.Tensor) and a.is_floating_point() and a.dtype != torch.float64
