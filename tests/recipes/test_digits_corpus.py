"""The digits corpus: held-out test voices, human test split, determinism, resumable build."""

import sys

import numpy as np
import pytest
import soundfile as sf

from vocalis.data.manifest import read_manifest


@pytest.fixture(scope="module")
def corpus(recipes):
    recipe = recipes["digits"]
    sys.path.insert(0, str(recipe))
    from dataset import synthesis  # noqa: PLC0415 (the recipe's own package)
    from dataset.builder import DatasetBuilder  # noqa: PLC0415
    yield recipe / "data", synthesis, DatasetBuilder
    sys.path.remove(str(recipe))


def test_manifests_describe_16k_flac_with_digit_words(corpus):
    data_dir, synthesis, _ = corpus
    sizes = {"train": 24, "valid": 6, "test": 6, "test_human": 4}
    for split, size in sizes.items():
        rows = read_manifest(data_dir / "manifest" / f"{split}.tsv")
        assert len(rows) == size
        for row in rows:
            info = sf.info(row["path"])
            assert info.samplerate == 16000 and info.channels == 1 and info.format == "FLAC"
            assert abs(info.duration - float(row["duration"])) < 1e-3
            assert 1 <= len(row["text"].split()) <= 8 and set(row["text"].split()) <= set(synthesis.WORDS)


def test_test_voices_are_never_heard_in_training(corpus):
    data_dir, synthesis, _ = corpus
    train_voices = set(synthesis.espeak_voices(False)) | set(synthesis.flite_voices(False))
    test_voices = set(synthesis.espeak_voices(True)) | set(synthesis.flite_voices(True))
    assert not train_voices & test_voices and len(test_voices) >= 30
    for split in ("test", "test_human"):
        for row in read_manifest(data_dir / "manifest" / f"{split}.tsv"):
            assert row["voice"].split(":", 1)[1] not in train_voices, row
    assert {r["voice"] for r in read_manifest(data_dir / "manifest" / "test_human.tsv")} == {"human:allison"}


def test_the_fresh_split_is_other_utterances_of_the_test_voices(corpus, tmp_path):
    _, synthesis, builder_cls = corpus
    test_voices = set(synthesis.espeak_voices(True)) | set(synthesis.flite_voices(True))
    fresh = [synthesis.plan_utterance(0, "test_fresh", i) for i in range(40)]
    tests = [synthesis.plan_utterance(0, "test", i) for i in range(40)]
    assert all(p.voice in test_voices for p in fresh) and len({p.voice for p in fresh}) > 10
    assert all(f.words != t.words or f.voice != t.voice for f, t in zip(fresh, tests))
    small = {"data_dir": str(tmp_path), "num_train": 1, "num_valid": 1, "num_test": 1, "num_test_human": 0}
    builder = builder_cls()
    builder.build(**small)
    assert not (tmp_path / "manifest/test_fresh.tsv").exists()
    assert builder.is_built(**small, num_test_fresh=0) and not builder.is_built(**small, num_test_fresh=2)
    builder.build(**small, num_test_fresh=2)
    rows = read_manifest(tmp_path / "manifest/test_fresh.tsv")
    assert [r["utt_id"] for r in rows] == ["test_fresh_000000", "test_fresh_000001"]
    assert all(r["voice"].split(":", 1)[1] in test_voices for r in rows)


def test_plans_and_audio_are_deterministic(corpus, tmp_path):
    data_dir, synthesis, _ = corpus
    assert synthesis.plan_utterance(0, "train", 5) == synthesis.plan_utterance(0, "train", 5)
    assert synthesis.plan_utterance(0, "train", 5) != synthesis.plan_utterance(1, "train", 5)
    plan = synthesis.plan_utterance(0, "train", 3)
    rendered = synthesis.render(plan, tmp_path)
    stored, _ = sf.read(data_dir / "audio" / "train" / "train_000003.flac", dtype="float32")
    assert len(rendered) == len(stored) and np.abs(rendered - stored).max() < 1e-4  # 16-bit quantisation


def test_rebuild_is_skipped_and_a_larger_build_reuses_files(corpus, tmp_path):
    _, _, builder_cls = corpus
    builder = builder_cls()
    small = {"data_dir": str(tmp_path), "num_train": 3, "num_valid": 1, "num_test": 1, "num_test_human": 1}
    builder.build(**small)
    assert builder.is_built(**small) and not builder.is_built(**{**small, "num_train": 4})
    first = (tmp_path / "audio/train/train_000000.flac").stat().st_mtime_ns
    builder.build(**{**small, "num_train": 4})
    assert (tmp_path / "audio/train/train_000000.flac").stat().st_mtime_ns == first
    assert len(read_manifest(tmp_path / "manifest/train.tsv")) == 4
    builder.build(**{**small, "seed": 7})  # a new seed must not reuse audio planned for another
    assert (tmp_path / "audio/train/train_000000.flac").stat().st_mtime_ns != first


def test_missing_programs_name_the_apt_package(corpus, tmp_path, monkeypatch):
    _, _, builder_cls = corpus
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="apt-get install espeak-ng flite"):
        builder_cls().prepare_source(data_dir=str(tmp_path))
    with pytest.raises(TypeError, match="unknown keys \\['num_tarin'\\]"):
        builder_cls().is_built(data_dir=str(tmp_path), num_tarin=3)
