"""Train-time augmentation: masks, warps, speed ratios and SNRs checked numerically."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from vocalis.config.schema import ConfigKeyError
from vocalis.data.audio import write_audio
from vocalis.data.augment import (AddNoise, Augmentation, SpecAugment, SpeedPerturb, build_augmentation, mask_along_axis,
                                  utterance_rng, warp_freq, warp_time)
from vocalis.data.features import Fbank
from vocalis.data.pipeline import SpeechTextPipeline

RATE = 16000


def tone(freq: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(wave: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.argmax(spec)) * RATE / len(wave)


def test_freq_masks_are_whole_channel_bands_within_the_width_range():
    spec = SpecAugment(apply_time_warp=False, apply_time_mask=False, freq_mask_width_range=(0, 10), num_freq_mask=2)
    x = torch.rand(200, 80) + 1.0
    for seed in range(20):
        y, _ = spec(x, generator=torch.Generator().manual_seed(seed))
        zero_cols = (y == 0).all(dim=0)
        assert ((y == 0).any(dim=0) == zero_cols).all(), "a masked channel is masked in every frame"
        assert torch.equal(y[:, ~zero_cols], x[:, ~zero_cols])
        assert int(zero_cols.sum()) <= 2 * 9  # two bands, each < 10 wide


def test_time_mask_width_follows_the_ratio_of_each_utterance():
    spec = SpecAugment(apply_time_warp=False, apply_freq_mask=False, time_mask_width_ratio_range=(0.0, 0.05),
                       num_time_mask=1)
    assert spec.time_mask_widths(400) == (0, 20) and spec.time_mask_widths(100) == (0, 5)
    widths = []
    for seed in range(50):
        y, _ = spec(torch.ones(400, 8), generator=torch.Generator().manual_seed(seed))
        rows = torch.nonzero((y == 0).all(dim=1)).flatten()
        if len(rows):
            assert rows.tolist() == list(range(int(rows[0]), int(rows[-1]) + 1)), "one contiguous band"
        widths.append(len(rows))
    assert max(widths) <= 19 and max(widths) >= 10  # randint(0, 20): never 20, large widths do occur


def test_time_warp_of_a_ramp_is_the_expected_linear_map():
    t = 100
    ramp = torch.arange(t, dtype=torch.float32)[:, None].repeat(1, 4)
    center, warped = 40, 45
    y = warp_time(ramp, center, warped, mode="bilinear")
    assert y.shape == ramp.shape
    j = torch.arange(1, warped - 1, dtype=torch.float32)
    expected = (j + 0.5) * center / warped - 0.5  # align_corners=False source coordinate; linear is exact on lines
    assert torch.allclose(y[1:warped - 1, 0], expected, atol=1e-4)
    j = torch.arange(warped + 1, t - 1, dtype=torch.float32)
    expected = center + (j - warped + 0.5) * (t - center) / (t - warped) - 0.5
    assert torch.allclose(y[warped + 1:t - 1, 0], expected, atol=1e-4)
    cubic = warp_time(ramp, center, warped)  # ESPnet's default: bicubic (a=-0.75) is close, not exact
    assert (cubic[3:t - 3] - y[3:t - 3]).abs().max() < 0.1
    assert torch.equal(warp_time(ramp, center, center), ramp)


def test_freq_warp_moves_a_formant_by_the_factor():
    x = torch.zeros(3, 80)
    x[:, 20] = 1.0  # a formant at channel 20
    assert torch.equal(warp_freq(x, 1.0), x)
    up = warp_freq(x, 1.1)
    assert int(up[0].argmax()) == 22 and up[0, 22] == 1.0 and up[0, :21].sum() == 0 and up[0, 24:].sum() == 0
    assert int(warp_freq(x, 0.9)[0].argmax()) == 18
    ramp = torch.arange(80, dtype=torch.float32)[None]
    assert torch.allclose(warp_freq(ramp, 0.5)[0, :40], ramp[0, :40] * 2) and (warp_freq(ramp, 0.5)[0, 40:] == 79).all()


def test_spec_augment_draws_one_warp_per_utterance_in_the_range():
    spec = SpecAugment(apply_time_warp=False, apply_freq_mask=False, apply_time_mask=False, freq_warp_range=(0.9, 1.1))
    x = torch.zeros(1, 10, 80)
    x[..., 40] = 1.0
    peaks = {int(spec(x, generator=torch.Generator().manual_seed(s))[0][0, 0].argmax()) for s in range(40)}
    assert peaks <= set(range(36, 45)) and len(peaks) >= 4
    with pytest.raises(ValueError, match="freq_warp_range"):
        SpecAugment(freq_warp_range=(1.1, 0.9))


def test_padding_is_never_touched_and_eval_is_identity():
    spec = SpecAugment(time_mask_width_range=(5, 6), num_time_mask=3, freq_mask_width_range=(5, 6))
    x = torch.rand(2, 60, 20) + 1.0
    x[0, 30:] = 7.0
    y, lengths = spec(x, torch.tensor([30, 60]), generator=torch.Generator().manual_seed(0))
    assert torch.equal(y[0, 30:], x[0, 30:]) and lengths.tolist() == [30, 60]
    assert (y[1] == 0).any()
    spec.eval()
    assert spec(x)[0] is x


def test_mask_along_axis_fills_the_value():
    y = mask_along_axis(torch.ones(10, 6), 1, (2, 3), 1, value=-5.0, generator=torch.Generator().manual_seed(1))
    assert int((y == -5.0).all(dim=0).sum()) == 2


def test_speed_perturbation_scales_length_and_pitch():
    sp = SpeedPerturb((0.9, 1.0, 1.1), RATE)
    x = tone(1000.0)
    for factor in (0.9, 1.0, 1.1):
        y = sp.apply(x, factor)
        assert len(y) == int(np.ceil(len(x) / factor))
        assert abs(peak_hz(y) - 1000.0 * factor) <= RATE / len(y)
    drawn = {len(sp(x, utterance_rng(0, epoch, "u1"))) for epoch in range(30)}
    assert drawn == {int(np.ceil(RATE / f)) for f in (0.9, 1.0, 1.1)}


def test_length_factors_replay_the_speed_draws_without_audio(tmp_path):
    write_audio(tmp_path / "noise" / "n.wav", np.full(800, 0.1, dtype=np.float32), RATE)
    aug = build_augmentation(OmegaConf.create({"speed_perturb": [0.8, 0.9, 1.0, 1.1, 1.2],
                                               "noise": {"source": str(tmp_path / "noise")},
                                               "specaug": {"num_time_mask": 1}}), RATE, seed=5)
    x = tone(300.0, 1.0)
    ids = [f"utt{k}" for k in range(40)]
    for epoch in (0, 3):
        factors = aug.length_factors(epoch, ids)
        assert factors.shape == (40,) and len(set(factors.round(6))) == 5
        for k, utt_id in enumerate(ids):
            out = aug.wave(x, aug.rng(epoch, utt_id))
            assert abs(len(out) / len(x) - factors[k]) < 1e-3, f"{utt_id}: drawn factor {1 / factors[k]}"
    assert not np.array_equal(aug.length_factors(0, ids), aug.length_factors(3, ids)), "drawn per epoch"
    assert build_augmentation(OmegaConf.create({"specaug": {"num_time_mask": 1}})).length_factors(0, ids) is None


def test_length_factors_refuse_a_length_change_behind_an_op_they_cannot_replay(tmp_path):
    write_audio(tmp_path / "n.wav", np.full(800, 0.1, dtype=np.float32), RATE)
    aug = Augmentation([AddNoise(tmp_path), SpeedPerturb((0.9, 1.1), RATE)], None)
    with pytest.raises(ValueError, match="AddNoise.*put length-changing ops .speed perturbation. first"):
        aug.length_factors(0, ["u"])


def test_noise_is_mixed_at_the_drawn_snr(tmp_path):
    noise = np.random.default_rng(0).normal(0, 0.1, RATE // 4).astype(np.float32)
    write_audio(tmp_path / "noise" / "n1.wav", noise, RATE)
    add = AddNoise(tmp_path / "noise", snr_db=(5.0, 15.0))
    speech = tone(300.0, 1.0)  # longer than the noise: the excerpt loops
    snrs = []
    for epoch in range(10):
        y = add(speech, utterance_rng(0, epoch, "u"))
        rest = y - speech
        snr = 10 * np.log10(np.mean(speech.astype(np.float64) ** 2) / np.mean(rest.astype(np.float64) ** 2))
        snrs.append(snr)
        rng = utterance_rng(0, epoch, "u")
        rng.integers(1), rng.integers(1)  # the file and offset draws precede the SNR draw
        assert abs(snr - rng.uniform(5.0, 15.0)) < 1e-3
    assert 5.0 <= min(snrs) and max(snrs) <= 15.0 and max(snrs) - min(snrs) > 2.0
    assert np.array_equal(AddNoise(tmp_path / "noise", prob=0.0)(speech, utterance_rng(0, 0, "u")), speech)


def test_pipeline_augments_deterministically_per_seed_epoch_and_utterance():
    aug = build_augmentation(OmegaConf.create({"speed_perturb": [0.9, 1.0, 1.1],
                                               "specaug": {"num_time_mask": 2, "freq_mask_width_range": [0, 10]}}),
                             RATE, seed=3)
    pipe = SpeechTextPipeline(Fbank().eval(), None, None, aug)
    clean = SpeechTextPipeline(Fbank().eval(), None, None)
    item = {"utt_id": "spk1-0001", "speech": tone(440.0, 0.8)}
    a, b = pipe(item, epoch=1)["speech"], pipe(item, epoch=1)["speech"]
    assert torch.equal(a, b)
    assert any(not torch.equal(a, pipe(item, epoch=e)["speech"]) for e in range(2, 6))
    assert not torch.equal(pipe({**item, "utt_id": "spk1-0002"}, epoch=1)["speech"], a)
    assert not torch.equal(a, clean(item)["speech"]) and torch.equal(clean(item)["speech"], clean(item)["speech"])


def test_build_augmentation_rejects_unknown_keys_and_nothing_means_none():
    assert build_augmentation(OmegaConf.create({"speed_perturb": None, "noise": None, "specaug": None})) is None
    with pytest.raises(ConfigKeyError, match="did you mean 'speed_perturb'"):
        build_augmentation(OmegaConf.create({"speed_perturbation": [0.9, 1.1]}))
    with pytest.raises(ConfigKeyError, match="augment.specaug.num_time_masks.*num_time_mask"):
        build_augmentation(OmegaConf.create({"specaug": {"num_time_masks": 2}}))


def test_relative_noise_source_starts_at_the_recipe_folder(tmp_path):
    write_audio(tmp_path / "noise" / "n.wav", np.full(800, 0.1, dtype=np.float32), RATE)
    aug = build_augmentation(OmegaConf.create({"noise": {"source": "noise", "snr_db": [10, 10]}}), base_dir=tmp_path)
    assert aug.wave_ops[0].files == [tmp_path / "noise" / "n.wav"]
    with pytest.raises(ConfigKeyError, match="did you mean 'snr_db'"):
        build_augmentation(OmegaConf.create({"noise": {"source": "noise", "snr": [5, 10]}}), base_dir=tmp_path)
