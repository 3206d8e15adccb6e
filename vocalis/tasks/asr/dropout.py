"""Dropout whose CPU mask is cheap.

``torch.nn.Dropout`` draws its CPU mask with ``bernoulli_``: one Mersenne-Twister draw
and a float compare per element, about 7-9 ns each on this class of CPU. In the digits
conformer that was a quarter of a training step. :class:`Dropout` draws 64 random bits per
four elements instead and keeps an element when its 16 bits clear a threshold: forward + backward
are about 3x faster than ``nn.Dropout``'s (``bench/bench_cpu_layers.py``).

The bits come from numpy's SFC64 generator, not from torch's: torch's CPU generator is a
Mersenne Twister that fills a tensor on one thread at ~9 ns per 64-bit word (while the other
core waits), SFC64 at ~3.5 ns. The comparison then writes its 0/1 result in the mask's own
dtype, where a bool result cast to float took 3.5x longer. Both together build a mask 1.9-3.7x
faster at the digits conformer's widths and make the aug recipe model's forward + backward
1.05-1.06x faster (``bench/bench_dropout_mask.py``, against the earlier mask).

Each call seeds the SFC64 stream with three 64-bit words drawn from the torch generator
(numpy's own seeding of SFC64 sets the same three words and discards 12 outputs, as this
does), so ``torch.manual_seed`` / ``seed_everything`` still make runs reproducible, and a
resumed run, which restores torch's generator, draws the same masks.

The keep probability is ``1 - p`` rounded to a multiple of 1/65536 (p = 0.1 keeps
58982/65536 = 0.899994). On other devices, in eval mode and at p = 0 it is ``torch.nn.Dropout``
unchanged. It subclasses ``nn.Dropout``, so code that finds dropout modules by type
(``isinstance(m, nn.Dropout)``) still finds it, and it has no parameters or buffers:
checkpoints are unaffected.
"""

from __future__ import annotations

import threading

import numpy as np
import torch
from torch import nn

_streams = threading.local()  # one SFC64 per thread: a generator's state is not thread-safe


def random_words(count: int, generator: torch.Generator | None = None) -> np.ndarray:
    """``count`` uniform 64-bit words (``uint64``) from an SFC64 stream seeded by ``generator``
    (torch's default CPU generator when None); see the module docstring for why."""
    stream = getattr(_streams, "sfc64", None)
    if stream is None:
        stream = _streams.sfc64 = np.random.SFC64(0)
    seed = torch.empty(3, dtype=torch.int64).random_(generator=generator).tolist()  # 3 x 63 bits
    state = stream.state
    state["state"]["state"] = np.array([*seed, 1], dtype=np.uint64)  # a, b, c and the counter
    stream.state = state
    stream.random_raw(12)  # the rounds numpy's seeding discards, to mix the seed words
    return stream.random_raw(count)


def keep_mask(shape: torch.Size, p: float, dtype: torch.dtype,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """A CPU tensor of ``shape`` holding ``1 / (1 - p)`` with probability ``1 - p`` and 0 otherwise."""
    n = shape.numel()
    words = random_words((n + 3) // 4, generator)
    bits = torch.from_numpy(words.view(np.int16)[:n]).view(shape)  # uniform on [-32768, 32767]
    threshold = round(p * 65536) - 32768  # P(bits >= threshold) = 1 - round(p * 65536) / 65536
    # the comparison writes 0/1 in dtype itself: 3.5x faster than a bool result cast to dtype
    mask = torch.ge(bits, threshold, out=torch.empty(shape, dtype=dtype))
    return mask.mul_(1.0 / (1.0 - p))


class Dropout(nn.Dropout):
    """``nn.Dropout`` with :func:`keep_mask` on CPU in training; ``(*) -> (*)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x  # what nn.Dropout returns, without its dispatch (every layer calls it when decoding)
        if x.device.type != "cpu" or not x.is_floating_point():
            return super().forward(x)
        if self.p == 1.0:
            return x * 0.0
        if self.inplace:
            return x.mul_(keep_mask(x.shape, self.p, x.dtype))
        return x * keep_mask(x.shape, self.p, x.dtype)
