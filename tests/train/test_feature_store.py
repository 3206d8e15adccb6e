"""Precomputed features on disk: a later run, or another rank, loads what the first one computed."""

import multiprocessing

import pytest
import torch

from tests.train.test_feature_cache import CountingAudioDataset, augmented_pipeline
from vocalis.train.data import PipelineDataset
from vocalis.train.feature_precompute import precompute_features
from vocalis.train.feature_store import store_file

INDICES = [0, 1, 3]


def filled_from(store, audio_files, factors=(0.9, 1.0, 1.1)) -> tuple[PipelineDataset, CountingAudioDataset, int]:
    counting = CountingAudioDataset(audio_files)
    target = PipelineDataset(counting, augmented_pipeline(speed_perturb=list(factors)), cache_gb=1.0)
    added = precompute_features(target, INDICES, processes=1, store=store)
    return target, counting, added


def test_a_second_run_loads_the_stored_features_and_reads_no_audio(audio_files, tmp_path):
    store = store_file(tmp_path / "features", "train", "frontend + speed factors + utterances")
    first, first_reads, added = filled_from(store, audio_files)
    assert added == 9 and first_reads.reads == 3 and store.is_file()
    assert not list(store.parent.glob(".*.tmp"))  # written under a temporary name, then renamed

    second, second_reads, loaded = filled_from(store, audio_files)
    assert loaded == 9 and second_reads.reads == 0
    assert sorted(second.cache._store) == sorted(first.cache._store)
    for key, feats in first.cache._store.items():
        assert torch.equal(second.cache.get(key), feats), key
    for epoch in range(3):  # the items, SpecAugment and normalisation included, are those of the first run
        for i in INDICES:
            a, b = first[(i, epoch)], second[(i, epoch)]
            assert a["voice"] == b["voice"] and torch.equal(a["speech"], b["speech"])
    assert second_reads.reads == 0


def test_the_file_name_follows_what_the_features_depend_on(tmp_path):
    a = store_file(tmp_path, "train", "key a")
    assert a == store_file(tmp_path, "train", "key a")
    assert a != store_file(tmp_path, "train", "key b") and a != store_file(tmp_path, "valid", "key a")
    assert a.name.startswith("train-") and a.suffix == ".pt"


def test_a_partial_cache_writes_no_store_and_a_store_for_other_utterances_is_refused(audio_files, tmp_path):
    store = store_file(tmp_path, "train", "k")
    counting = CountingAudioDataset(audio_files)
    small = PipelineDataset(counting, augmented_pipeline(speed_perturb=[0.9, 1.0, 1.1]), cache_gb=1e-6)
    precompute_features(small, INDICES, processes=1, store=store)
    assert not store.exists()

    filled_from(store, audio_files)  # writes the store for utterances 0, 1, 3
    other = PipelineDataset(CountingAudioDataset(audio_files), augmented_pipeline(speed_perturb=[0.9, 1.0, 1.1]),
                            cache_gb=1.0)
    with pytest.raises(ValueError, match=r"lacks 1 utterance\(s\).*index 2.*delete it"):
        precompute_features(other, [0, 1, 2], processes=1, store=store)


def _rank(store, audio_files, results):
    torch.set_num_threads(1)
    _, counting, added = filled_from(store, audio_files)
    results.put((counting.reads, added))


def test_processes_started_together_compute_the_store_once(audio_files, tmp_path):
    store = store_file(tmp_path / "features", "train", "k")
    ctx = multiprocessing.get_context("spawn")  # a forked child of a threaded torch process can hang
    results = ctx.Queue()
    ranks = [ctx.Process(target=_rank, args=(store, audio_files, results)) for _ in range(2)]
    for p in ranks:
        p.start()
    got = sorted(results.get(timeout=120) for _ in ranks)
    for p in ranks:
        p.join(timeout=60)
    assert got == [(0, 9), (3, 9)]  # one rank read the audio and wrote; the other waited and loaded


def test_a_store_that_cannot_be_written_leaves_no_file_and_training_data_in_memory(audio_files, tmp_path,
                                                                                   monkeypatch, caplog):
    def disk_full(obj, f, *args, **kwargs):
        open(f, "wb").write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    store = store_file(tmp_path / "features", "train", "k")
    target, _, added = filled_from(store, audio_files)
    assert added == 9 and len(target.cache) == 9
    assert not store.exists() and not list(store.parent.glob(".*.tmp"))
    assert "not written ([Errno 28] No space left on device)" in caplog.text and "precompute_store: false" in caplog.text


def test_the_rank_that_computes_the_store_uses_the_cores_the_waiting_ranks_leave(audio_files, tmp_path,
                                                                                monkeypatch, caplog):
    from vocalis.train import feature_precompute

    monkeypatch.setattr(feature_precompute, "MIN_UTTERANCES_FOR_WORKERS", 1)
    monkeypatch.setattr(feature_precompute, "node_cores", lambda: 2)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # two ranks on this node: one core each when both compute
    pipeline = augmented_pipeline(speed_perturb=[1.0])
    with caplog.at_level("INFO", logger="vocalis.train.feature_precompute"):
        precompute_features(PipelineDataset(CountingAudioDataset(audio_files), pipeline, cache_gb=1.0), INDICES)
        precompute_features(PipelineDataset(CountingAudioDataset(audio_files), pipeline, cache_gb=1.0), INDICES,
                            store=store_file(tmp_path, "train", "k"))
    runs = [r.getMessage() for r in caplog.records if r.getMessage().startswith("precomputed")]
    assert [m.split(" on ")[-1] for m in runs] == ["1 process(es)", "2 process(es)"]
