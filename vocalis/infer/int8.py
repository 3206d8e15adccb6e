"""Int8 inference on CPU: a calibrated copy of a trained model with int8 matrix products.

What runs in int8 (fbgemm kernels, AVX2 and up):

- every ``nn.Linear``: weights int8 per tensor, activations quantized per call from the
  batch's own range (dynamic quantization, as ESPnet's ``quantize_asr_model``);
- the convolutions of every :class:`~vocalis.tasks.asr.subsampling.Conv2dSubsampling` after
  the first: weights int8 per output channel, activations uint8 with *static* ranges,
  recorded beforehand on a few real utterances (:func:`recording_front_ranges`). The first
  convolution (one input channel, 9 multiply-adds per output) stays float32.

The conv front is most of an encoder's arithmetic on short utterances (the 256 -> 256
3x3 stride-2 convolution alone is ~0.56 GFLOP per second of audio), and fbgemm's int8
convolution runs ~2.5x faster than oneDNN's float32 one on the 2-core AVX2 box.

Usage::

    with recording_front_ranges(model) as ranges:
        for feats, lengths in calibration_batches:    # ~32 utterances of held-out data
            model.ctc_logits(feats, lengths)
    fast = quantize_int8(model, ranges)               # model itself is left float32

Caveats: dynamic quantization picks each ``Linear``'s activation scale from the whole
padded batch, so a batch of 16 need not give the hypotheses of a batch of 1 (float32 does,
with scores that agree to about 1e-6: the attention over a padded batch sums in another order);
compare WER with float32 on your own test set before switching.
"""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from vocalis.tasks.asr.subsampling import Conv2dSubsampling

FrontRanges = dict[str, list[float]]  # Conv2dSubsampling's module name -> max after each ReLU


def conv_fronts(model: nn.Module) -> list[tuple[str, Conv2dSubsampling]]:
    """``(name, module)`` of every conv front of ``model``: the modules whose int8 copy needs ranges."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, Conv2dSubsampling)]


@contextmanager
def recording_front_ranges(model: nn.Module) -> Iterator[FrontRanges]:
    """Within the block, every forward through the model's conv fronts records the largest
    value after each ReLU (the inputs of the int8 convolutions and the front's output)."""
    ranges: FrontRanges = {}
    handles = []
    for name, front in conv_fronts(model):
        relus = [m for m in front.conv if isinstance(m, nn.ReLU)]
        ranges[name] = [0.0] * len(relus)
        for k, relu in enumerate(relus):
            def hook(_module, _inputs, out, name=name, k=k):
                ranges[name][k] = max(ranges[name][k], float(out.detach().amax()))
            handles.append(relu.register_forward_hook(hook))
    try:
        yield ranges
    finally:
        for h in handles:
            h.remove()


def _uint8_scale(value_range: float, where: str) -> float:
    if not value_range > 0:
        raise ValueError(f"int8 range of {where} is {value_range}: no calibration forward went through it; "
                         "run a few real utterances inside recording_front_ranges(model) first")
    return value_range / 255.0


class Int8ConvStack(nn.Module):
    """Drop-in for ``Conv2dSubsampling.conv``: ``(B, 1, T, F)`` float -> ``(B, C, T', F')`` float.

    The first conv + ReLU run in float32; each later conv + ReLU runs as one fused int8
    fbgemm kernel on uint8 activations (zero point 0: they follow a ReLU).
    """

    def __init__(self, conv: nn.Sequential, ranges: list[float], where: str):
        super().__init__()
        from torch.ao.nn.intrinsic.quantized import ConvReLU2d

        convs = [m for m in conv if isinstance(m, nn.Conv2d)]
        if len(ranges) != len(convs):
            raise ValueError(f"{where}: {len(ranges)} recorded ranges for {len(convs)} convolutions")
        self.first = copy.deepcopy(convs[0])
        self.in_scale = _uint8_scale(ranges[0], f"{where}.conv ReLU 0")
        layers = []
        for k, c in enumerate(convs[1:], start=1):
            w = c.weight.detach().float()  # (C_out, C_in, kh, kw)
            w_scale = (w.abs().amax(dim=(1, 2, 3)) / 127.0).clamp(min=1e-12).double()
            wq = torch.quantize_per_channel(w, w_scale, torch.zeros_like(w_scale, dtype=torch.long), 0, torch.qint8)
            q = ConvReLU2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding)
            q.set_weight_bias(wq, None if c.bias is None else c.bias.detach().float())
            q.scale, q.zero_point = _uint8_scale(ranges[k], f"{where}.conv ReLU {k}"), 0
            layers.append(q)
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.quantize_per_tensor(self._first_conv_relu(x), self.in_scale, 0, torch.quint8)
        x = x.permute(0, 3, 1, 2)  # (B, C, T', F') view in channels-last order, as fbgemm wants it
        for layer in self.layers:
            x = layer(x)
        return x.dequantize()


    def _first_conv_relu(self, x: torch.Tensor) -> torch.Tensor:
        """The one-channel first conv as patches x weights: ``(B, 1, T, F) -> (B, T', F', C)``.

        Its output comes out channels-last, the layout fbgemm's int8 convolution reads, so
        no reordering copy of the largest activation is needed (oneDNN's conv writes it
        channels-first)."""
        (kh, kw), (sh, sw) = self.first.kernel_size, self.first.stride
        patches = x[:, 0].unfold(1, kh, sh).unfold(2, kw, sw)  # (B, T', F', kh, kw)
        weight = self.first.weight.reshape(self.first.out_channels, kh * kw)
        y = nn.functional.linear(patches.reshape(*patches.shape[:3], kh * kw), weight, self.first.bias)
        return y.relu_()


@contextmanager
def _quiet_torch_ao() -> Iterator[None]:
    """torch.ao's eager quantization warns that it is deprecated on every call; the kernels
    are what ``torch==2.13.*`` ships, and this module is the only user."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*(torch\.ao\.quantization|quantize_per_tensor|"
                                r"quantize_per_channel).*deprecated")
        yield


def quantize_int8(model: nn.Module, ranges: FrontRanges) -> nn.Module:
    """An int8 copy of ``model`` for CPU inference (``model`` is left as it is).

    Args:
        model: a float32 model on CPU, in eval mode.
        ranges: from :func:`recording_front_ranges`, covering every conv front of ``model``.
    """
    if torch.backends.quantized.engine not in ("x86", "fbgemm"):
        raise RuntimeError(f"int8 inference needs torch's x86/fbgemm quantized engine; this build runs "
                           f"{torch.backends.quantized.engine!r} (supported: "
                           f"{torch.backends.quantized.supported_engines}); use dtype float32")
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("int8 inference runs on CPU only; move the model to cpu (device: cpu)")
    with _quiet_torch_ao():
        fast = copy.deepcopy(model).eval()
        for name, front in conv_fronts(fast):
            if name not in ranges:
                raise KeyError(f"no int8 ranges for conv front {name!r} (have {sorted(ranges)}); record them "
                               "with recording_front_ranges on this model")
            front.conv = Int8ConvStack(front.conv, ranges[name], name)
        torch.ao.quantization.quantize_dynamic(fast, {nn.Linear}, dtype=torch.qint8, inplace=True)
    return fast
