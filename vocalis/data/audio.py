"""Reading, resampling and writing audio, with errors that name the utterance.

Waveforms are float32 numpy arrays in ``[-1, 1]``, shape ``(N,)`` for mono.
soundfile (libsndfile, shipped in its wheel) does the file I/O: WAV, FLAC, OGG,
MP3 and NIST SPHERE read offline. Resampling is a windowed-sinc polyphase filter
in numpy, so no torchaudio is needed.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

__all__ = ["AudioError", "load_audio", "resample", "write_audio"]

CLIP_LEVEL = 0.999  # |sample| at or above this counts as clipped
CLIP_WARN_FRACTION = 0.01  # warn when more than this fraction of samples is clipped


class AudioError(ValueError):
    """An audio file that cannot be used as it is; the message names the utterance and the fix."""


def _who(path: str | Path, utt_id: str | None) -> str:
    return f"utterance {utt_id} ({path})" if utt_id else str(path)


def _read(source, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    """``(samples (N, C) float32, rate)`` from ``offset`` seconds for ``duration`` seconds (None: to the end)."""
    with sf.SoundFile(source) as f:
        rate = f.samplerate
        start = int(round(offset * rate))
        if start:
            f.seek(min(start, f.frames))
        frames = -1 if duration is None else int(round(duration * rate))
        return f.read(frames, dtype="float32", always_2d=True), rate


def load_audio(path: str | Path | BinaryIO, sample_rate: int | None = None, utt_id: str | None = None,
               on_rate_mismatch: str = "resample", multichannel: str = "error", offset: float = 0.0,
               duration: float | None = None, clipping: str = "warn") -> tuple[np.ndarray, int]:
    """Read ``path`` (a file or a binary file object) as float32 mono ``(N,)``; return ``(wave, sample_rate)``.

    Args:
        sample_rate: the rate the caller needs; None keeps the file's rate.
        utt_id: named in every error and warning.
        on_rate_mismatch: ``resample`` (to ``sample_rate``) or ``error``.
        multichannel: ``error``, ``mean`` (down-mix) or ``first`` (keep channel 0).
        offset / duration: read only this excerpt, in seconds (Kaldi ``segments``, NeMo ``offset``).
        clipping: ``warn``, ``error`` or ``ignore`` when more than 1 % of samples sit at full scale.

    Raises:
        AudioError: unreadable, empty, multi-channel (with ``multichannel="error"``),
            wrong-rate (with ``on_rate_mismatch="error"``) or clipped (``clipping="error"``) audio.
    """
    name = getattr(path, "name", path)
    try:
        wave, rate = _read(path if hasattr(path, "read") else str(path), offset, duration)
    except Exception as err:  # libsndfile raises several types; all mean "cannot read"
        raise AudioError(f"{_who(name, utt_id)}: cannot read audio ({err}); check the path in the manifest "
                         "and that the file is a WAV/FLAC/OGG/MP3/SPHERE file") from err
    if wave.shape[0] == 0:
        raise AudioError(f"{_who(name, utt_id)}: no samples{' in the excerpt' if offset or duration else ''}; "
                         "remove the utterance from the manifest")
    if wave.shape[1] > 1:
        if multichannel == "mean":
            wave = wave.mean(axis=1, keepdims=True)
        elif multichannel == "first":
            wave = wave[:, :1]
        else:
            raise AudioError(f"{_who(name, utt_id)}: {wave.shape[1]} channels, expected mono; down-mix the file "
                             "or pass multichannel='mean' (or 'first')")
    wave = np.ascontiguousarray(wave[:, 0])
    _check_clipping(wave, _who(name, utt_id), clipping)
    if sample_rate is not None and rate != sample_rate:
        if on_rate_mismatch != "resample":
            raise AudioError(f"{_who(name, utt_id)}: sample rate {rate} Hz, expected {sample_rate} Hz; resample the "
                             "data (e.g. sox in.wav -r 16000 out.wav) or allow on_rate_mismatch='resample'")
        wave, rate = resample(wave, rate, sample_rate), sample_rate
    return wave, rate


def _check_clipping(wave: np.ndarray, who: str, clipping: str) -> None:
    if clipping == "ignore":
        return
    clipped = float(np.mean(np.abs(wave) >= CLIP_LEVEL))
    if clipped > CLIP_WARN_FRACTION:
        message = f"{who}: {clipped:.1%} of samples are clipped"
        if clipping == "error":
            raise AudioError(message + "; drop the utterance or allow clipping='warn'")
        warnings.warn(message, stacklevel=3)


@lru_cache(maxsize=16)
def _polyphase_filters(down: int, up: int, zero_crossings: int, rolloff: float) -> tuple[np.ndarray, int]:
    """Filter bank for rational resampling by ``up / down`` (coprime).

    Returns ``(filters, half_width)``: ``filters`` has shape ``(2 * half_width + down, up)``;
    column ``p`` gives the weights that make output phase ``p`` of a block of ``down``
    input samples, the block's first input sample being at offset ``half_width``.
    """
    cutoff = 0.5 * min(1.0, up / down) * rolloff  # cycles per input sample
    half_width = math.ceil(zero_crossings / (2.0 * cutoff))
    offsets = np.arange(-half_width, half_width + down, dtype=np.float64)  # input taps rel. to block start
    phase_times = np.arange(up, dtype=np.float64) * down / up  # output times rel. to block start
    dist = offsets[:, None] - phase_times[None, :]  # (K, up)
    beta = 8.6  # Kaiser window: ~-90 dB sidelobes
    inside = np.clip(1.0 - (dist / half_width) ** 2, 0.0, None)
    window = np.where(np.abs(dist) <= half_width, np.i0(beta * np.sqrt(inside)) / np.i0(beta), 0.0)
    filters = 2.0 * cutoff * np.sinc(2.0 * cutoff * dist) * window
    return filters.astype(np.float32), half_width


def resample(wave: np.ndarray, orig_rate: int, new_rate: int, zero_crossings: int = 16,
             rolloff: float = 0.95) -> np.ndarray:
    """Resample a ``(N,)`` waveform from ``orig_rate`` to ``new_rate`` (band-limited, Kaiser-windowed sinc).

    Output length is ``ceil(N * new_rate / orig_rate)``. The passband ends at ``rolloff``
    times the lower of the two Nyquist frequencies.
    """
    if orig_rate == new_rate:
        return np.asarray(wave, dtype=np.float32)
    g = math.gcd(int(orig_rate), int(new_rate))
    down, up = int(orig_rate) // g, int(new_rate) // g
    filters, half_width = _polyphase_filters(down, up, zero_crossings, rolloff)
    x = np.asarray(wave, dtype=np.float32)
    n_out = math.ceil(len(x) * up / down)
    n_blocks = math.ceil(n_out / up)
    padded = np.zeros(n_blocks * down + filters.shape[0], dtype=np.float32)
    padded[half_width:half_width + len(x)] = x
    frames = np.lib.stride_tricks.sliding_window_view(padded, filters.shape[0])[::down][:n_blocks]  # (B, K)
    return (frames @ filters).reshape(-1)[:n_out]  # (B, up) -> (B * up,)


def write_audio(path: str | Path, wave: np.ndarray, sample_rate: int) -> None:
    """Write ``wave`` atomically (temporary file + rename); the format follows the suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        sf.write(tmp, np.asarray(wave, dtype=np.float32), sample_rate, format=path.suffix[1:].upper(),
                 subtype="PCM_16")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
