"""Fbank matches Kaldi (kaldi-native-fbank) on real speech, and behaves as a frontend should."""

import shutil
import subprocess
from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np
import pytest
import torch

from vocalis.data.audio import load_audio, resample
from vocalis.data.features import Fbank, kaldi_mel_banks

HUMAN_DIGITS = Path("/usr/share/asterisk/sounds/en_US_f_Allison/digits")  # apt: asterisk-core-sounds-en-wav


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    """A real TTS utterance at 16 kHz (espeak-ng), with a little noise so no frame is digital silence."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng: apt-get install espeak-ng")
    path = tmp_path_factory.mktemp("fbank") / "s.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "seven three oh nine"], check=True)
    wave, rate = load_audio(path)
    wave = resample(wave, rate, 16000)
    return wave + 1e-3 * np.random.default_rng(0).standard_normal(len(wave)).astype(np.float32)


def kaldi_fbank(wave: np.ndarray, snip_edges: bool = True, n_mels: int = 80) -> np.ndarray:
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.snip_edges = snip_edges
    opts.mel_opts.num_bins = n_mels
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(16000, (wave * 32768).tolist())
    fbank.input_finished()
    return np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])


@pytest.mark.parametrize("snip_edges,n_mels", [(True, 80), (False, 80), (True, 40)])
def test_matches_kaldi_native_fbank(speech, snip_edges, n_mels):
    ours = Fbank(n_mels=n_mels, snip_edges=snip_edges).eval()(speech).numpy()
    ref = kaldi_fbank(speech, snip_edges, n_mels)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-3


def test_batch_equals_one_by_one(speech):
    fbank = Fbank().eval()
    waves = [speech, speech[: len(speech) // 2], speech[:4000]]
    batch = torch.zeros(3, len(speech))
    for k, w in enumerate(waves):
        batch[k, : len(w)] = torch.from_numpy(w)
    feats, lengths = fbank.forward_batch(batch, [len(w) for w in waves])
    for k, w in enumerate(waves):
        single = fbank(w)
        assert int(lengths[k]) == single.shape[0] == fbank.num_frames(len(w))
        assert torch.allclose(feats[k, : single.shape[0]], single, atol=1e-4)


def test_dither_only_in_training_and_seeded(speech):
    fbank = Fbank(dither=1.0)
    a = fbank.manual_seed(3)(speech)
    b = fbank.manual_seed(3)(speech)
    assert torch.equal(a, b)
    assert not torch.equal(a, fbank.manual_seed(4)(speech))
    fbank.eval()
    assert torch.equal(fbank(speech), Fbank().eval()(speech))


def kaldi_fbank_float64(wave: np.ndarray) -> np.ndarray:
    """Kaldi's default fbank (snip_edges, DC removal, pre-emphasis 0.97, povey window, 512-point
    FFT, 80 mel bins, log floored at FLT_EPSILON), step by step in numpy float64: the oracle."""
    x = wave.astype(np.float64) * 32768
    frames = np.stack([x[i * 160: i * 160 + 400] for i in range(1 + (len(x) - 400) // 160)])
    frames = frames - frames.mean(axis=1, keepdims=True)
    frames = np.concatenate([frames[:, :1] * 0.03, frames[:, 1:] - 0.97 * frames[:, :-1]], axis=1)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 399)) ** 0.85
    power = np.abs(np.fft.rfft(frames * window, 512)[:, :256]) ** 2
    mel = power @ kaldi_mel_banks(80, 512, 16000, 20.0, 0.0).numpy()
    return np.log(np.maximum(mel, np.finfo(np.float32).eps))


@pytest.mark.skipif(not HUMAN_DIGITS.is_dir(), reason="needs apt package asterisk-core-sounds-en-wav")
def test_matches_kaldi_on_human_speech_where_float32_resolves_the_bin():
    """Allison's 8 kHz prompts, resampled to 16 kHz: the band above 4 kHz is nearly empty.

    Ours equals the float64 oracle everywhere. kaldi-native-fbank computes in float32, and its
    FFT rounding noise sits about 70 dB below a frame's loudest mel bin (measured: up to 0.4 in
    log at 120 dB down), so the 1e-3 match is checked on bins within 60 dB of the frame's peak.
    """
    fbank = Fbank().eval()
    for name in ("0", "4", "7", "9"):
        wave, rate = load_audio(HUMAN_DIGITS / f"{name}.wav")
        wave = resample(wave, rate, 16000)
        ours, ref = fbank(wave).numpy(), kaldi_fbank(wave)
        assert np.abs(ours - kaldi_fbank_float64(wave)).max() < 1e-5, name
        resolved = ours.max(axis=1, keepdims=True) - ours < 60 / 4.343  # within 60 dB of the frame's peak
        assert resolved.mean() > 0.5, name
        assert np.abs(ours - ref)[resolved].max() < 1e-3, name
