"""The in-memory feature cache: the same items as without it, and no audio read after epoch 0."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from vocalis.data.audio import load_audio, write_audio
from vocalis.data.augment import build_augmentation
from vocalis.data.feature_cache import FeatureCache
from vocalis.data.features import Fbank
from vocalis.data.normalize import UtteranceMVN
from vocalis.data.pipeline import SpeechTextPipeline
from vocalis.train.data import PipelineDataset

RATE = 16000


class CountingAudioDataset:
    """Items read from FLAC files on every access; counts the reads."""

    def __init__(self, paths):
        self.paths, self.reads = paths, 0

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        self.reads += 1
        wave, _ = load_audio(self.paths[index])
        return {"utt_id": f"utt{index}", "speech": wave, "voice": f"v{index % 2}"}


def augmented_pipeline(**augment) -> SpeechTextPipeline:
    aug = build_augmentation(OmegaConf.create(augment), RATE, seed=5)
    return SpeechTextPipeline(Fbank().eval(), UtteranceMVN(), None, aug)


def test_cached_items_equal_uncached_ones_and_later_epochs_read_no_audio(audio_files):
    pipeline = augmented_pipeline(speed_perturb=[0.9, 1.0, 1.1],
                                  specaug={"num_time_mask": 2, "freq_mask_width_range": [0, 10]})
    plain = PipelineDataset(CountingAudioDataset(audio_files), pipeline)
    counting = CountingAudioDataset(audio_files)
    cached = PipelineDataset(counting, pipeline, cache_gb=1.0)
    factors_seen = set()
    for epoch in range(6):
        for i in range(len(audio_files)):
            a, b = plain[(i, epoch)], cached[(i, epoch)]
            assert a.keys() == b.keys() and a["voice"] == b["voice"]
            assert torch.equal(a["speech"], b["speech"]), (epoch, i)
            factors_seen.add(pipeline.draw(f"utt{i}", epoch)[1])
    # one read per (utterance, factor) drawn: never more than 3 per utterance, and each utterance
    # was read again only when a new speed factor came up
    assert len(cached.cache) == counting.reads <= 3 * len(audio_files)
    assert counting.reads < 6 * len(audio_files) and len(factors_seen) == 3
    # SpecAugment and normalisation never change the cached tensors
    before = {k: v.clone() for k, v in cached.cache._store.items()}
    for i in range(len(audio_files)):
        cached[(i, 7)]
    assert all(torch.equal(before[k], cached.cache._store[k]) for k in before)


def test_without_augmentation_each_utterance_is_read_once(audio_files):
    counting = CountingAudioDataset(audio_files)
    pipeline = SpeechTextPipeline(Fbank().eval(), UtteranceMVN(), None)
    cached = PipelineDataset(counting, pipeline, cache_gb=1.0)
    first = [cached[(i, 0)]["speech"] for i in range(4)]
    again = [cached[(i, 3)]["speech"] for i in range(4)]
    assert counting.reads == 4 and all(torch.equal(a, b) for a, b in zip(first, again))


def test_additive_noise_is_never_cached(audio_files, tmp_path):
    write_audio(tmp_path / "noise" / "n.wav", np.random.default_rng(1).normal(0, 0.1, RATE).astype(np.float32), RATE)
    counting = CountingAudioDataset(audio_files)
    pipeline = augmented_pipeline(noise={"source": str(tmp_path / "noise"), "snr_db": [5, 10]})
    plain = PipelineDataset(CountingAudioDataset(audio_files), pipeline)
    cached = PipelineDataset(counting, pipeline, cache_gb=1.0)
    for epoch in range(2):
        for i in range(4):
            assert torch.equal(plain[(i, epoch)]["speech"], cached[(i, epoch)]["speech"])
    assert len(cached.cache) == 0 and counting.reads == 8


def test_a_full_cache_stops_growing_and_a_negative_budget_is_refused():
    cache = FeatureCache(max_gb=1000 * 4 / 2**30)  # room for 1000 float32 values
    cache.put("a", torch.zeros(600))
    cache.put("b", torch.zeros(600))  # does not fit: left out
    cache.put("c", torch.zeros(400))
    assert cache.get("b") is None and cache.get("a") is not None and cache.get("c") is not None
    assert cache.bytes == 4000
    with pytest.raises(ValueError, match="feature_cache_gb must be >= 0"):
        FeatureCache(-1)


@pytest.mark.parametrize("cache_gb", [0.0, 1.0])
def test_an_item_without_speech_names_the_utterance_and_its_fields(cache_gb):
    pipeline = SpeechTextPipeline(Fbank().eval(), UtteranceMVN(), None)
    dataset = PipelineDataset([{"utt_id": "spk1-0007", "wav": "x.flac"}], pipeline, cache_gb=cache_gb)
    with pytest.raises(KeyError, match=r"spk1-0007: the dataset item has no 'speech' field \(fields: \['utt_id', 'wav'\]\)"):
        dataset[(0, 0)]


@pytest.fixture()
def one_blas_thread():
    """Workers run numpy's BLAS on one thread (single_threaded_worker), and the stage runner limits
    it in the main process too (limit_numpy_blas). Speed perturbation's polyphase filter is a numpy
    product whose last bits depend on OpenBLAS's thread count (seen on a busy 2-core AVX2 EPYC), so
    the in-process side of the comparison is set up the same way."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.mark.parametrize("processes", [1, 2])
def test_precomputed_features_give_the_items_of_the_lazy_cache_and_read_no_audio_later(audio_files, processes,
                                                                                       monkeypatch, one_blas_thread):
    from vocalis.train import feature_precompute

    monkeypatch.setattr(feature_precompute, "MIN_UTTERANCES_FOR_WORKERS", 1)  # worker processes on 4 files
    pipeline = augmented_pipeline(speed_perturb=[0.9, 1.0, 1.1], specaug={"num_time_mask": 2})
    lazy = PipelineDataset(CountingAudioDataset(audio_files), pipeline, cache_gb=1.0)
    counting = CountingAudioDataset(audio_files)
    filled = PipelineDataset(counting, pipeline, cache_gb=1.0)
    rng_before = torch.get_rng_state()
    assert feature_precompute.precompute_features(filled, [0, 1, 3], processes=processes) == 9
    # the global RNG is untouched: the model built after the loaders starts from the same weights
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert sorted(filled.cache._store) == sorted((i, (f,)) for i in (0, 1, 3) for f in (0.9, 1.0, 1.1))
    reads = counting.reads  # worker processes read with their own copies of the dataset
    for epoch in range(4):
        for i in (0, 1, 3):
            a, b = lazy[(i, epoch)], filled[(i, epoch)]
            assert a.keys() == b.keys() and a["voice"] == b["voice"]
            assert torch.equal(a["speech"], b["speech"]), (epoch, i)
    assert counting.reads == reads  # every item came from the cache
    assert feature_precompute.precompute_features(filled, [0, 1, 3], processes=processes) == 0  # nothing left


def test_precompute_stops_at_the_budget_and_skips_what_cannot_be_cached(audio_files, tmp_path):
    from vocalis.train.feature_precompute import precompute_features

    pipeline = augmented_pipeline(speed_perturb=[0.9, 1.0, 1.1])
    one_entry = pipeline.frontend_features(load_audio(audio_files[0])[0], "utt0", None, (0.9,))
    room = 2.5 * one_entry.numel() * one_entry.element_size() / 2**30
    small = PipelineDataset(CountingAudioDataset(audio_files), pipeline, cache_gb=room)
    assert precompute_features(small, range(4), processes=1) == 2 and len(small.cache) == 2

    write_audio(tmp_path / "noise" / "n.wav", np.zeros(RATE, dtype=np.float32) + 0.01, RATE)
    noisy = PipelineDataset(CountingAudioDataset(audio_files),
                            augmented_pipeline(noise={"source": str(tmp_path / "noise")}), cache_gb=1.0)
    assert precompute_features(noisy, range(4)) == 0 and len(noisy.cache) == 0
    with pytest.raises(ValueError, match="precompute_features: true needs dataloader.feature_cache_gb > 0"):
        precompute_features(PipelineDataset(CountingAudioDataset(audio_files), pipeline), range(4))
