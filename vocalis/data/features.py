"""Kaldi-compatible log-mel filterbank features in pure torch.

:class:`Fbank` reproduces Kaldi's ``compute-fbank`` (and kaldi-native-fbank's
``OnlineFbank``) with dither 0: the same framing (``snip_edges`` true or
false, with Kaldi's symmetric reflection at the edges), DC removal, raw log
energy, pre-emphasis, window (``povey`` by default), zero padding to a power of
two, power spectrum, triangular mel banks on Kaldi's mel scale
(``1127 ln(1 + f / 700)``) and bin edges, and ``log(max(x, FLT_EPSILON))``.

Input scale convention
----------------------
``forward`` takes float samples in ``[-1, 1]`` and multiplies them by
:data:`INT16_SCALE` (32768) internally, because Kaldi's options (dither,
energy floor, the epsilon floor of the log) are defined on the int16 scale.
The output therefore equals kaldi-native-fbank fed with ``waveform * 32768``
(as Kaldi sees int16 WAV files). Integer arrays (e.g. ``int16`` PCM) are taken
as already being on that scale.

Determinism
-----------
Dither is applied only when ``self.training and dither > 0``. Inference
(``.eval()``, the default after construction is train mode as for every
``nn.Module``, so call ``.eval()``) is deterministic; in train mode the noise
comes from ``self.generator``, which :meth:`Fbank.manual_seed` seeds.

Precision
---------
With ``float64`` (the default) every step from framing to the log runs in float64, and the
output equals a float64 transcription of Kaldi's algorithm to float32 rounding (1e-6). Kaldi
and kaldi-native-fbank compute in float32: their FFT rounding noise lies about 70 dB below a
frame's loudest mel bin, so in nearly empty bands (e.g. above 4 kHz in 8 kHz audio resampled to
16 kHz) their values differ from the exact ones by up to ~0.4 in log. Within 60 dB of the
frame's peak the two agree to 1e-3 (tested on human speech). ``float64=False`` keeps
everything in float32 (a little faster, Kaldi-like rounding).

Speed
-----
All frames of an utterance (or a batch) are cut with one ``unfold`` and
transformed with one ``torch.fft.rfft`` call. On the 2-core CPU box,
``rfft`` beat a matmul with a precomputed (DC-removal x pre-emphasis x window x
DFT) basis for 5 s clips (see ``bench/bench_features.py --compare-dft``).
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import torch

__all__ = ["Fbank", "INT16_SCALE", "FLT_EPSILON"]

INT16_SCALE = 32768.0
FLT_EPSILON = float(np.finfo(np.float32).eps)  # Kaldi's log floor, 1.19209e-07
_WINDOWS = ("povey", "hamming", "hanning", "hann", "sine", "rectangular", "blackman")


def _kaldi_ms_to_samples(sample_rate: float, ms: float) -> int:
    """Kaldi's ``static_cast<int32>(samp_freq * 0.001 * ms)`` with float options."""
    return int(float(np.float32(sample_rate)) * 0.001 * float(np.float32(ms)))


def _mel_scale(freq: torch.Tensor | float) -> torch.Tensor | float:
    """Kaldi's mel scale: ``1127 ln(1 + f / 700)``."""
    if isinstance(freq, torch.Tensor):
        return 1127.0 * torch.log1p(freq / 700.0)
    return 1127.0 * math.log1p(freq / 700.0)


def kaldi_window(window: str, length: int, blackman_coeff: float = 0.42) -> torch.Tensor:
    """Kaldi's analysis window of ``length`` samples as float64, shape ``(L,)``."""
    if length < 2:
        raise ValueError(f"frame length must be at least 2 samples, got {length}")
    i = torch.arange(length, dtype=torch.float64)
    a = 2.0 * math.pi / (length - 1)
    if window in ("hanning", "hann"):
        return 0.5 - 0.5 * torch.cos(a * i)
    if window == "sine":
        return torch.sin(0.5 * a * i)
    if window == "hamming":
        return 0.54 - 0.46 * torch.cos(a * i)
    if window == "povey":
        return (0.5 - 0.5 * torch.cos(a * i)).pow(0.85)
    if window == "rectangular":
        return torch.ones(length, dtype=torch.float64)
    if window == "blackman":
        return blackman_coeff - 0.5 * torch.cos(a * i) + (0.5 - blackman_coeff) * torch.cos(2 * a * i)
    raise ValueError(f"unknown window {window!r}; choose one of {', '.join(_WINDOWS)}")


def kaldi_mel_banks(
    n_mels: int, padded_window: int, sample_rate: float, low_freq: float, high_freq: float
) -> torch.Tensor:
    """Kaldi's triangular mel filters as float64, shape ``(K, n_mels)`` with ``K = padded_window // 2``.

    Row ``k`` is FFT bin ``k`` (frequency ``k * sample_rate / padded_window``); the
    Nyquist bin is never used, as in Kaldi. ``high_freq <= 0`` means an offset
    from Nyquist.
    """
    nyquist = 0.5 * sample_rate
    hi = high_freq if high_freq > 0.0 else nyquist + high_freq
    if n_mels < 3:
        raise ValueError(f"n_mels must be at least 3 (Kaldi's limit), got {n_mels}")
    if not (0.0 <= low_freq < nyquist and low_freq < hi <= nyquist):
        raise ValueError(
            f"bad mel band edges: low_freq={low_freq}, high_freq={high_freq} (resolved to {hi}) "
            f"for sample_rate={sample_rate}; need 0 <= low_freq < high_freq <= Nyquist ({nyquist})"
        )
    num_fft_bins = padded_window // 2
    mel_low, mel_high = _mel_scale(low_freq), _mel_scale(hi)
    delta = (mel_high - mel_low) / (n_mels + 1)
    b = torch.arange(n_mels, dtype=torch.float64)
    left = (mel_low + b * delta)[None, :]
    center = (mel_low + (b + 1) * delta)[None, :]
    right = (mel_low + (b + 2) * delta)[None, :]
    mel = _mel_scale(torch.arange(num_fft_bins, dtype=torch.float64) * (sample_rate / padded_window))[:, None]
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    weights = torch.where(mel <= center, up, down)
    weights = torch.where((mel > left) & (mel < right), weights, torch.zeros_like(weights))
    empty = (weights.sum(0) == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(
            f"mel bins {empty} get no FFT bins: n_mels={n_mels} is too large for a "
            f"{padded_window}-point FFT at {sample_rate} Hz; lower n_mels or lengthen the frame"
        )
    return weights


class Fbank(torch.nn.Module):
    """Kaldi ``compute-fbank`` log-mel filterbank as an ``nn.Module``.

    Args mirror Kaldi's options (``--num-mel-bins`` is ``n_mels``). ``high_freq``
    <= 0 is an offset from Nyquist. With ``use_energy`` the raw log energy is
    the first column and :attr:`feature_dim` is ``n_mels + 1``.
    See the module docstring for the input scale and determinism rules.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 80,
        frame_length_ms: float = 25.0,
        frame_shift_ms: float = 10.0,
        dither: float = 0.0,
        preemphasis: float = 0.97,
        remove_dc_offset: bool = True,
        window: str = "povey",
        low_freq: float = 20.0,
        high_freq: float = 0.0,
        snip_edges: bool = True,
        use_energy: bool = False,
        round_to_power_of_two: bool = True,
        energy_floor: float = 0.0,
        use_log_fbank: bool = True,
        float64: bool = True,
    ) -> None:
        super().__init__()
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if dither < 0:
            raise ValueError(f"dither must be >= 0, got {dither}")
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.frame_length_ms = frame_length_ms
        self.frame_shift_ms = frame_shift_ms
        self.dither = float(dither)
        self.preemphasis = float(preemphasis)
        self.remove_dc_offset = remove_dc_offset
        self.window_type = window
        self.low_freq = low_freq
        self.high_freq = high_freq
        self.snip_edges = snip_edges
        self.use_energy = use_energy
        self.round_to_power_of_two = round_to_power_of_two
        self.energy_floor = float(energy_floor)
        self.use_log_fbank = use_log_fbank

        self.frame_length = _kaldi_ms_to_samples(sample_rate, frame_length_ms)
        self.frame_shift = _kaldi_ms_to_samples(sample_rate, frame_shift_ms)
        if self.frame_length < 2 or self.frame_shift < 1:
            raise ValueError(
                f"frame_length_ms={frame_length_ms} / frame_shift_ms={frame_shift_ms} give "
                f"{self.frame_length} / {self.frame_shift} samples at {sample_rate} Hz; need >= 2 / >= 1"
            )
        n = self.frame_length
        self.padded_length = 1 << (n - 1).bit_length() if round_to_power_of_two else n
        dtype = torch.float64 if float64 else torch.float32
        self.register_buffer("window", kaldi_window(window, n).to(dtype), persistent=False)
        mel = kaldi_mel_banks(n_mels, self.padded_length, sample_rate, low_freq, high_freq)
        self.register_buffer("mel_banks", mel.to(dtype), persistent=False)
        self.generator = torch.Generator()

    # ------------------------------------------------------------------ API
    @property
    def feature_dim(self) -> int:
        """Output feature size ``D``: ``n_mels`` plus one with ``use_energy``."""
        return self.n_mels + int(self.use_energy)

    def manual_seed(self, seed: int) -> "Fbank":
        """Seed the dither generator so train-mode output is reproducible."""
        self.generator.manual_seed(seed)
        return self

    def num_frames(self, num_samples: int) -> int:
        """Kaldi's ``NumFrames``: ``1 + (N - L) // S`` (0 if ``N < L``) with
        ``snip_edges``, else ``(N + S // 2) // S``."""
        n, length, shift = int(num_samples), self.frame_length, self.frame_shift
        if n <= 0:
            return 0
        if self.snip_edges:
            return 0 if n < length else 1 + (n - length) // shift
        return (n + shift // 2) // shift

    def forward(self, waveform: torch.Tensor | np.ndarray, generator: torch.Generator | None = None) -> torch.Tensor:
        """Features of one utterance.

        Args:
            waveform: ``(N,)`` float samples in ``[-1, 1]`` (torch or numpy;
                integer arrays are taken as int16 PCM).
            generator: overrides ``self.generator`` for dither.
        Returns:
            ``(T, D)`` float32 with ``T = num_frames(N)`` and ``D = feature_dim``.
        """
        x = self._to_tensor(waveform)
        if x.dim() != 1:
            raise ValueError(
                f"forward expects a 1-D waveform (N,), got shape {tuple(x.shape)}; use forward_batch for (B, N)"
            )
        n = x.shape[0]
        t = self.num_frames(n)
        if t == 0:
            return x.new_zeros((0, self.feature_dim))
        if self.snip_edges:
            frames = x[: (t - 1) * self.frame_shift + self.frame_length].unfold(0, self.frame_length, self.frame_shift)
        else:
            lengths = torch.tensor([n], device=x.device)
            frames = self._reflect_frames(x[None], lengths, t)[0]
        return self._frames_to_feats(frames, generator)

    def forward_batch(
        self,
        waveforms: torch.Tensor | np.ndarray,
        lengths: torch.Tensor | np.ndarray | Sequence[int],
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Features of a zero-padded batch, all frames in one FFT call.

        Args:
            waveforms: ``(B, N)`` float samples in ``[-1, 1]``, padded after
                each utterance's length.
            lengths: ``(B,)`` valid samples per utterance (each ``<= N``).
            generator: overrides ``self.generator`` for dither.
        Returns:
            ``feats`` ``(B, T, D)`` float32 with ``T = max(feat_lengths)``,
            zero beyond each utterance's frames, and ``feat_lengths`` ``(B,)``
            int64. Valid frames equal :meth:`forward` on each utterance.
        """
        x = self._to_tensor(waveforms)
        if x.dim() != 2:
            raise ValueError(f"forward_batch expects waveforms (B, N), got shape {tuple(x.shape)}")
        lens = torch.as_tensor(lengths, dtype=torch.int64).to("cpu").flatten()
        b, n = x.shape
        if lens.numel() != b:
            raise ValueError(f"lengths has {lens.numel()} entries for a batch of {b} waveforms")
        if b and (int(lens.min()) < 0 or int(lens.max()) > n):
            raise ValueError(f"lengths must lie in [0, {n}] (the padded width), got {lens.tolist()}")
        feat_lens = torch.tensor([self.num_frames(int(v)) for v in lens], dtype=torch.int64)
        t = int(feat_lens.max()) if b else 0
        if t == 0:
            return x.new_zeros((b, 0, self.feature_dim)), feat_lens.to(x.device)
        if self.snip_edges:
            frames = x[:, : (t - 1) * self.frame_shift + self.frame_length].unfold(1, self.frame_length, self.frame_shift)
        else:
            frames = self._reflect_frames(x, lens.to(x.device), t)
        feats = self._frames_to_feats(frames, generator)
        feat_lens = feat_lens.to(x.device)
        valid = torch.arange(t, device=x.device)[None, :] < feat_lens[:, None]
        return feats.masked_fill_(~valid[..., None], 0.0), feat_lens

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_mels={self.n_mels}, frame={self.frame_length}/"
            f"{self.frame_shift} samples, fft={self.padded_length}, window={self.window_type!r}, "
            f"snip_edges={self.snip_edges}, dither={self.dither}, use_energy={self.use_energy}"
        )

    # ------------------------------------------------------------ internals
    def _to_tensor(self, waveform: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Float32 samples on the int16 scale, on the buffers' device."""
        x = torch.from_numpy(np.ascontiguousarray(waveform)) if isinstance(waveform, np.ndarray) else waveform
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"waveform must be a torch.Tensor or numpy array, got {type(waveform).__name__}")
        device = self.window.device
        if x.is_floating_point():
            x = x.to(device=device, dtype=torch.float32)
            if x.numel() and float(x.abs().max()) > 64.0:
                warnings.warn(
                    "Fbank got float samples far outside [-1, 1]; it scales float input by 32768 itself. "
                    "Pass waveform / 32768 (or the int16 array) to avoid a +20.8 offset in log-mel.",
                    stacklevel=3,
                )
            return x * INT16_SCALE
        if x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"waveform must hold real samples, got dtype {x.dtype}")
        return x.to(device=device, dtype=torch.float32)

    def _reflect_frames(self, x: torch.Tensor, lengths: torch.Tensor, t: int) -> torch.Tensor:
        """Frames for ``snip_edges=False``: ``(B, N)`` -> ``(B, t, L)``.

        Kaldi centres frame ``i`` at ``i * S + S // 2`` and reflects out-of-range
        sample ``s`` as ``-s - 1`` (left) or ``2N - 1 - s`` (right), i.e. the
        signal is periodic with period ``2N`` after a mirror that repeats the
        edge sample.
        """
        start = self.frame_shift // 2 - self.frame_length // 2
        span = (t - 1) * self.frame_shift + self.frame_length
        pos = torch.arange(start, start + span, device=x.device)[None, :]  # (1, span)
        n = lengths.clamp(min=1)[:, None]
        m = torch.remainder(pos, 2 * n)
        m = torch.where(m >= n, 2 * n - 1 - m, m)
        padded = torch.gather(x, 1, m)  # (B, span)
        return padded.unfold(1, self.frame_length, self.frame_shift)

    def _frames_to_feats(self, frames: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """``(..., T, L)`` raw frames on the int16 scale -> ``(..., T, D)`` features."""
        frames = frames.to(self.window.dtype)
        if self.training and self.dither > 0.0:
            gen = generator if generator is not None else self.generator
            noise = torch.randn(frames.shape, generator=gen, dtype=frames.dtype, device=gen.device)
            frames = frames + self.dither * noise.to(frames.device)
        if self.remove_dc_offset:
            frames = frames - frames.mean(dim=-1, keepdim=True)
        log_energy = None
        if self.use_energy:
            energy = frames.square().sum(dim=-1).clamp_(min=FLT_EPSILON).log_()
            if self.energy_floor > 0.0:
                energy = energy.clamp_(min=math.log(self.energy_floor))
            log_energy = energy
        if self.preemphasis != 0.0:
            first = frames[..., :1] * (1.0 - self.preemphasis)
            rest = frames[..., 1:] - self.preemphasis * frames[..., :-1]
            frames = torch.cat([first, rest], dim=-1)
        frames = frames * self.window
        spec = torch.fft.rfft(frames, n=self.padded_length, dim=-1)[..., : self.padded_length // 2]
        power = spec.real.square() + spec.imag.square()  # (..., T, K)
        mel = torch.matmul(power, self.mel_banks)  # (..., T, n_mels)
        if self.use_log_fbank:
            mel = mel.clamp_(min=FLT_EPSILON).log_()
        if log_energy is not None:
            mel = torch.cat([log_energy[..., None], mel], dim=-1)
        return mel.to(torch.float32)
