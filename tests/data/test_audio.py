"""Audio reading, resampling and writing on real files."""

import warnings

import numpy as np
import pytest
import soundfile as sf

from vocalis.data.audio import AudioError, load_audio, resample, write_audio


def tone(freq: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("orig,new", [(8000, 16000), (22050, 16000), (16000, 8000), (44100, 16000)])
def test_resample_keeps_a_tone_in_the_passband(orig, new):
    y = resample(tone(440.0, orig), orig, new)
    assert len(y) == int(np.ceil(orig * new / orig))
    expected = tone(440.0, new)[: len(y)]
    assert np.abs(y - expected)[100:-100].max() < 1e-3  # edges lack the filter's full support


def test_resample_removes_what_the_new_rate_cannot_hold():
    y = resample(tone(6000.0, 16000), 16000, 8000)  # above the 4 kHz Nyquist of the output
    assert np.sqrt(np.mean(y[100:-100] ** 2)) < 1e-3


def test_write_then_load_roundtrip_and_resample_on_read(tmp_path):
    path = tmp_path / "a" / "x.flac"
    write_audio(path, tone(300.0, 8000), 8000)
    wave, rate = load_audio(path)
    assert rate == 8000 and np.abs(wave - tone(300.0, 8000)).max() < 1e-4  # 16-bit PCM
    wave16, rate16 = load_audio(path, 16000)
    assert rate16 == 16000 and len(wave16) == 16000
    assert not list(path.parent.glob(".*")), "no temporary file is left behind"


def test_bad_files_name_the_utterance_and_the_fix(tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"not audio")
    with pytest.raises(AudioError, match=r"utterance u1 .*broken.wav.*cannot read"):
        load_audio(broken, utt_id="u1")

    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="u2.*no samples"):
        load_audio(empty, utt_id="u2")

    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([tone(200, 16000), tone(300, 16000)], axis=1), 16000)
    with pytest.raises(AudioError, match="u3.*2 channels.*multichannel='mean'"):
        load_audio(stereo, utt_id="u3")
    mixed, _ = load_audio(stereo, multichannel="mean")
    assert mixed.shape == (16000,)

    with pytest.raises(AudioError, match="u4.*8000 Hz, expected 16000 Hz"):
        write_audio(tmp_path / "low.wav", tone(200, 8000), 8000)
        load_audio(tmp_path / "low.wav", 16000, utt_id="u4", on_rate_mismatch="error")


def test_clipped_audio_warns_with_the_utterance(tmp_path):
    path = tmp_path / "loud.wav"
    sf.write(path, np.clip(4 * tone(200, 16000), -1, 1), 16000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_audio(path, utt_id="loud1")
    assert any("loud1" in str(w.message) and "clipped" in str(w.message) for w in caught)
    with pytest.raises(AudioError, match=r"loud1 .*% of samples are clipped; drop the utterance"):
        load_audio(path, utt_id="loud1", clipping="error")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_audio(path, utt_id="loud1", clipping="ignore")


def test_excerpts_and_file_objects(tmp_path):
    path = tmp_path / "t.wav"
    write_audio(path, tone(200, 16000), 16000)
    full, _ = load_audio(path)
    part, _ = load_audio(path, offset=0.25, duration=0.5)
    assert np.array_equal(part, full[4000:12000])
    with open(path, "rb") as f:
        assert np.array_equal(load_audio(f)[0], full)
    with pytest.raises(AudioError, match="u9.*no samples in the excerpt"):
        load_audio(path, utt_id="u9", offset=2.0, duration=0.5)
