"""SpecAugment (Park et al., 2019) on features: time warp, frequency masks, time masks.

The arguments follow ESPnet2's ``espnet2.asr.specaug.specaug.SpecAugment`` so a task
bridge can pass ``specaug_conf`` straight through::

    SpecAugment(apply_time_warp=True, time_warp_window=5, time_warp_mode="bicubic",
                apply_freq_mask=True, freq_mask_width_range=(0, 27), num_freq_mask=2,
                apply_time_mask=True, time_mask_width_ratio_range=(0.0, 0.05), num_time_mask=5)

Every random draw comes from a ``torch.Generator`` the caller may pass, so the data
pipeline makes the masks a function of (seed, epoch, utterance). Widths are drawn as
``randint(low, high)`` with ``high`` exclusive, as in ESPnet.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ["SpecAugment", "mask_along_axis", "warp_freq", "warp_time"]


def _randint(low: int, high: int, generator: torch.Generator | None) -> int:
    """One integer in ``[low, high)`` (``low`` when the range is empty)."""
    if high <= low:
        return low
    return int(torch.randint(low, high, (1,), generator=generator))


def warp_time(x: torch.Tensor, center: int, warped: int, mode: str = "bicubic") -> torch.Tensor:
    """Stretch frames ``[0, center)`` onto ``[0, warped)`` and squeeze the rest into ``[warped, T)``.

    Args:
        x: features ``(T, D)``.
        center: the source frame that moves; ``0 < center < T``.
        warped: where it lands; ``0 < warped < T``.
        mode: ``torch.nn.functional.interpolate`` mode (``bicubic`` or ``bilinear``).
    Returns:
        ``(T, D)``, same length: each side is resized with ``align_corners=False``.
    """
    t, d = x.shape
    if not (0 < center < t and 0 < warped < t):
        raise ValueError(f"warp_time needs 0 < center, warped < T={t}; got center={center}, warped={warped}")
    img = x[None, None]  # (1, 1, T, D)
    left = F.interpolate(img[:, :, :center], size=(warped, d), mode=mode, align_corners=False)
    right = F.interpolate(img[:, :, center:], size=(t - warped, d), mode=mode, align_corners=False)
    return torch.cat([left, right], dim=2)[0, 0]


def warp_freq(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """Scale the frequency axis of ``x (T, D)`` by ``alpha``: the content of channel ``j`` moves to
    ``alpha * j`` (linear interpolation; the top channel repeats when ``alpha < 1``).

    On mel filterbanks this is vocal tract length perturbation (Jaitly & Hinton, 2013): a
    longer or shorter vocal tract moves every formant by about the same factor, which makes
    a new speaker out of each utterance without changing its tempo or pitch track.
    """
    d = x.shape[1]
    src = (torch.arange(d, dtype=x.dtype, device=x.device) / alpha).clamp(max=d - 1)
    lo = src.floor().long()
    hi = (lo + 1).clamp(max=d - 1)
    frac = src - lo
    return x[:, lo] * (1 - frac) + x[:, hi] * frac


def mask_along_axis(x: torch.Tensor, axis: int, width_range: tuple[int, int], num_mask: int,
                    value: float | torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Set ``num_mask`` random bands of ``x (T, D)`` along ``axis`` (0 = time, 1 = freq) to ``value``.

    Each band has width ``randint(*width_range)`` and starts at ``randint(0, max(1, size - width))``.
    Returns a new tensor; ``x`` is not modified.
    """
    out = x.clone()
    size = x.shape[axis]
    for _ in range(num_mask):
        width = _randint(width_range[0], width_range[1], generator)
        start = _randint(0, max(1, size - width), generator)
        if axis == 0:
            out[start:start + width, :] = value
        else:
            out[:, start:start + width] = value
    return out


class SpecAugment(torch.nn.Module):
    """Train-time masking and warping of features ``(B, T, D)`` or one utterance ``(T, D)``.

    Args (ESPnet2 names):
        apply_time_warp / time_warp_window / time_warp_mode: a frame ``c`` drawn in
            ``[window, T - window)`` moves to ``c + randint(-window, window)``; utterances
            with ``T <= 2 * window`` are left alone.
        apply_freq_mask / freq_mask_width_range / num_freq_mask: bands of mel channels.
        apply_time_mask / time_mask_width_range / num_time_mask: bands of frames with a
            fixed width range, or with ``time_mask_width_ratio_range`` a width range given as
            fractions of each utterance's length (ESPnet's ``MaskAlongAxisVariableMaxWidth``).
        replace_with_zero: masked values become 0, else the utterance's mean.
        freq_warp_range: ``(low, high)``: scale each utterance's frequency axis by a factor
            drawn uniformly in the range (:func:`warp_freq`), before masking. Not in ESPnet;
            ``(0.9, 1.1)`` is the usual VTLP range. None (default) = off.

    Only active in ``train()`` mode: call ``.eval()`` and it returns its input.
    Padding frames beyond ``x_lengths`` are never warped or masked.
    Advice: the ESPnet LibriSpeech conformer uses freq width (0, 27) x 2, time ratio
    (0, 0.05) x 5 (x 10 for 960 h), warp window 5.
    """

    def __init__(self, apply_time_warp: bool = True, time_warp_window: int = 5, time_warp_mode: str = "bicubic",
                 apply_freq_mask: bool = True, freq_mask_width_range: Sequence[int] = (0, 20), num_freq_mask: int = 2,
                 apply_time_mask: bool = True, time_mask_width_range: Sequence[int] | None = None,
                 time_mask_width_ratio_range: Sequence[float] | None = None, num_time_mask: int = 2,
                 replace_with_zero: bool = True, freq_warp_range: Sequence[float] | None = None):
        super().__init__()
        if freq_warp_range is not None and not (len(freq_warp_range) == 2 and 0 < freq_warp_range[0] <= freq_warp_range[1]):
            raise ValueError(f"SpecAugment: freq_warp_range must be (low, high) with 0 < low <= high, got {freq_warp_range}")
        self.freq_warp_range = tuple(float(v) for v in freq_warp_range) if freq_warp_range is not None else None
        if apply_time_mask and time_mask_width_range is not None and time_mask_width_ratio_range is not None:
            raise ValueError("SpecAugment: give time_mask_width_range or time_mask_width_ratio_range, not both")
        if apply_time_mask and time_mask_width_range is None and time_mask_width_ratio_range is None:
            time_mask_width_range = (0, 100)  # ESPnet's default
        self.apply_time_warp, self.time_warp_window, self.time_warp_mode = apply_time_warp, int(time_warp_window), time_warp_mode
        self.apply_freq_mask, self.num_freq_mask = apply_freq_mask, int(num_freq_mask)
        self.freq_mask_width_range = tuple(int(v) for v in freq_mask_width_range)
        self.apply_time_mask, self.num_time_mask = apply_time_mask, int(num_time_mask)
        self.time_mask_width_range = tuple(int(v) for v in time_mask_width_range) if time_mask_width_range else None
        self.time_mask_width_ratio_range = (tuple(float(v) for v in time_mask_width_ratio_range)
                                            if time_mask_width_ratio_range else None)
        self.replace_with_zero = replace_with_zero

    def time_mask_widths(self, num_frames: int) -> tuple[int, int]:
        """``(low, high)`` width range of time masks for an utterance of ``num_frames``."""
        if self.time_mask_width_ratio_range is not None:
            lo, hi = self.time_mask_width_ratio_range
            return math.floor(num_frames * lo), max(math.floor(num_frames * hi), 1)
        return self.time_mask_width_range

    def augment_one(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One utterance ``(T, D)`` -> ``(T, D)``."""
        t = x.shape[0]
        w = self.time_warp_window
        if self.apply_time_warp and w > 0 and t > 2 * w:
            center = _randint(w, t - w, generator)
            warped = _randint(center - w, center + w, generator) + 1
            if warped != center and 0 < warped < t:
                x = warp_time(x, center, warped, self.time_warp_mode)
        if self.freq_warp_range is not None:
            lo, hi = self.freq_warp_range
            x = warp_freq(x, lo + (hi - lo) * float(torch.rand((), generator=generator)))
        value = 0.0 if self.replace_with_zero else x.mean()
        if self.apply_freq_mask and self.num_freq_mask > 0:
            x = mask_along_axis(x, 1, self.freq_mask_width_range, self.num_freq_mask, value, generator)
        if self.apply_time_mask and self.num_time_mask > 0:
            x = mask_along_axis(x, 0, self.time_mask_widths(t), self.num_time_mask, value, generator)
        return x

    def forward(self, x: torch.Tensor, x_lengths: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Args: ``x`` ``(B, T, D)`` (or ``(T, D)``), ``x_lengths`` ``(B,)``.

        Returns ``(x, x_lengths)`` like ESPnet; lengths are unchanged (warping keeps length).
        """
        if not self.training:
            return x, x_lengths
        if x.dim() == 2:
            return self.augment_one(x, generator), x_lengths
        out = x.clone()
        for b in range(x.shape[0]):
            n = int(x_lengths[b]) if x_lengths is not None else x.shape[1]
            out[b, :n] = self.augment_one(x[b, :n], generator)
        return out, x_lengths

    def extra_repr(self) -> str:
        return (f"time_warp={self.apply_time_warp}(window={self.time_warp_window}), freq_mask={self.apply_freq_mask}"
                f"({self.freq_mask_width_range} x{self.num_freq_mask}), time_mask={self.apply_time_mask}"
                f"({self.time_mask_width_ratio_range or self.time_mask_width_range} x{self.num_time_mask}), "
                f"freq_warp={self.freq_warp_range}")
