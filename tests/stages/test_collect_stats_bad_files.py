"""collect_stats skips unreadable audio, reports it, and the train loader leaves it out."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from omegaconf import OmegaConf

from vocalis.data.audio import write_audio
from vocalis.data.features import Fbank
from vocalis.data.formats import JsonlDataset
from vocalis.data.pipeline import SpeechTextPipeline
from vocalis.data.shapes import read_bad_utts, read_split_frames, read_split_utt_ids
from vocalis.stages.collect_stats import collect_split
from vocalis.train.data import build_loader

RATE = 16000


def make_split(root: Path, n_good: int = 6) -> JsonlDataset:
    """``n_good`` tones plus a broken file and an empty one, as a JSONL manifest."""
    lines = []
    for i in range(n_good):
        t = np.arange(int(RATE * (0.3 + 0.1 * i))) / RATE
        write_audio(root / f"good{i}.wav", (0.3 * np.sin(2 * np.pi * 300 * (i + 1) * t)).astype(np.float32), RATE)
        lines.append({"utt_id": f"good{i}", "audio_filepath": f"good{i}.wav", "text": "x"})
    (root / "broken.wav").write_bytes(b"RIFF but not really audio")
    sf.write(root / "empty.wav", np.zeros(0, dtype=np.float32), RATE)
    lines.insert(2, {"utt_id": "broken", "audio_filepath": "broken.wav", "text": "x"})
    lines.append({"utt_id": "empty", "audio_filepath": "empty.wav", "text": "x"})
    (root / "split.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return JsonlDataset(root / "split.jsonl")


def test_bad_files_are_skipped_listed_and_left_out_of_training(tmp_path):
    ds = make_split(tmp_path)
    pipeline = SpeechTextPipeline(Fbank().eval(), None, None)
    stats = tmp_path / "stats"
    n = collect_split(ds, pipeline, stats / "train", num_workers=0, with_stats=True, max_bad_fraction=0.3)
    assert n == 6
    bad = read_bad_utts(stats, "train")
    assert [(i, u) for i, u, _ in bad] == [(2, "broken"), (7, "empty")]
    assert "cannot read audio" in bad[0][2] and "no samples" in bad[1][2]
    indices, frames = read_split_frames(stats, "train", len(ds))
    assert indices.tolist() == [0, 1, 3, 4, 5, 6]
    fbank = Fbank()
    assert frames.tolist() == [fbank.num_frames(int(RATE * (0.3 + 0.1 * i))) for i in range(6)]
    assert int(np.load(stats / "train" / "feats_stats.npz")["count"]) == frames.sum()

    cfg = OmegaConf.create({"stats_dir": str(stats), "seed": 0, "frontend": {"_target_": "vocalis.data.features.Fbank"},
                            "augment": {"specaug": {"num_time_mask": 1}},
                            "dataloader": {"batch_size": 4, "batch_seconds": None, "num_buckets": 30,
                                           "num_workers": 0, "shuffle": True, "sort_by_length": True}})
    loader = build_loader(ds, pipeline, cfg, "train")
    seen = sorted(u for batch in loader for u in batch["utt_id"])
    assert seen == [f"good{i}" for i in range(6)]
    assert loader.dataset.pipeline.augmentation is not None, "the train split augments"
    assert build_loader(ds, pipeline, cfg, "train").durations_sampler.durations.tolist() == \
        pytest.approx((frames * 0.01).tolist())


def test_too_many_bad_files_fail_naming_the_first_and_write_nothing(tmp_path):
    ds = make_split(tmp_path, n_good=3)
    out = tmp_path / "stats" / "valid"
    with pytest.raises(RuntimeError, match=r"2 of 5 utterances .*max_bad_fraction=0.1.*utterance broken"):
        collect_split(ds, SpeechTextPipeline(Fbank().eval(), None, None), out, 0, with_stats=False,
                      max_bad_fraction=0.1)
    assert not (out / "feats_shape").exists()


def test_speed_perturbed_batches_are_bucketed_by_the_lengths_the_model_gets(tmp_path):
    ds = make_split(tmp_path, n_good=24)
    pipeline = SpeechTextPipeline(Fbank().eval(), None, None)
    stats = tmp_path / "stats"
    collect_split(ds, pipeline, stats / "train", num_workers=0, with_stats=False, max_bad_fraction=0.3)
    utt_ids = read_split_utt_ids(stats, "train")
    padded = {}
    for aware in (True, False):
        cfg = OmegaConf.create({"stats_dir": str(stats), "seed": 0, "augment": {"speed_perturb": [0.8, 1.2]},
                                "frontend": {"_target_": "vocalis.data.features.Fbank"},
                                "dataloader": {"batch_size": 4, "batch_seconds": None, "num_buckets": 30,
                                               "num_workers": 0, "shuffle": False,  # one sorted run: tightest
                                               "bucket_augmented_lengths": aware}})
        loader = build_loader(ds, pipeline, cfg, "train")
        padded[aware] = tightest = 0
        for epoch in range(3):
            batches = list(loader)  # the items' speed factors are drawn for this epoch
            frames = {u: int(n) for b in batches for u, n in zip(b["utt_id"], b["speech_lengths"])}
            assert sorted(frames) == sorted(f"good{i}" for i in range(24))
            planned = dict(zip(utt_ids, loader.durations_sampler.epoch_durations(epoch)))
            off = [abs(planned[u] - 0.01 * n) for u, n in frames.items()]
            assert max(off) <= 0.02 if aware else max(off) > 0.1  # to a frame, or blind to the speed
            padded[aware] += sum(len(b["utt_id"]) * int(max(b["speech_lengths"])) for b in batches)
            tightest += sum(4 * max(chunk) for chunk in np.array_split(sorted(frames.values()), 6))
    assert padded[True] == tightest < padded[False], "aware batches are the tightest packing of the real lengths"


def test_audio_shorter_than_one_frame_is_listed_bad_not_counted(tmp_path):
    make_split(tmp_path, n_good=3)
    write_audio(tmp_path / "click.wav", np.full(100, 0.1, dtype=np.float32), RATE)  # 6 ms: no 25 ms frame
    lines = (tmp_path / "split.jsonl").read_text() + json.dumps(
        {"utt_id": "click", "audio_filepath": "click.wav", "text": "x"}) + "\n"
    (tmp_path / "split.jsonl").write_text(lines)
    stats = tmp_path / "stats"
    n = collect_split(JsonlDataset(tmp_path / "split.jsonl"), SpeechTextPipeline(Fbank().eval(), None, None),
                      stats / "train", num_workers=0, with_stats=False, max_bad_fraction=0.5)
    assert n == 3
    click = [b for b in read_bad_utts(stats, "train") if b[1] == "click"]
    assert click and "no feature frames" in click[0][2]


def test_augmented_statistics_see_the_waveform_ops_but_not_specaugment_and_shapes_stay_clean(tmp_path):
    """``augment.in_collect_stats``: SpecAugment's zero masks would pull the mean toward 0 and inflate the
    variance; speed factors in feats_shape would be applied twice by the perturbed-length sampler."""
    from vocalis.data.augment import build_augmentation

    ds = make_split(tmp_path, n_good=6)
    clean = SpeechTextPipeline(Fbank().eval(), None, None)
    speed = {"speed_perturb": [0.8, 1.2]}
    results = {}
    for name, augment in {"speed": speed, "speed+specaug": {**speed, "specaug": {"num_time_mask": 4}}}.items():
        waves = build_augmentation(OmegaConf.create(augment), RATE, 0).waveform_only()
        assert waves.spec_augment is None
        out = tmp_path / name
        collect_split(ds, clean, out, num_workers=0, with_stats=True, max_bad_fraction=0.3,
                      stats_pipeline=clean.with_augmentation(waves))
        results[name] = dict(np.load(out / "feats_stats.npz")), read_split_frames(tmp_path, name, len(ds))[1]
    (stats, frames), (masked_stats, masked_frames) = results["speed"], results["speed+specaug"]
    assert all(np.array_equal(stats[k], masked_stats[k]) for k in stats)
    fbank = Fbank()
    assert frames.tolist() == masked_frames.tolist() == [fbank.num_frames(int(RATE * (0.3 + 0.1 * i))) for i in range(6)]
    assert int(stats["count"]) != frames.sum()  # the statistics did see the speed-perturbed lengths


def test_a_train_split_refuses_dither_it_would_not_apply(tmp_path):
    ds = make_split(tmp_path)
    stats = tmp_path / "stats"
    for split in ("train", "valid"):
        collect_split(ds, SpeechTextPipeline(Fbank().eval(), None, None), stats / split, 0, with_stats=False,
                      max_bad_fraction=0.3)
    cfg = OmegaConf.create({"stats_dir": str(stats), "seed": 0, "frontend": {"_target_": "vocalis.data.features.Fbank"},
                            "dataloader": {"batch_size": 4, "num_workers": 0, "shuffle": True}})
    with pytest.raises(Exception, match=r"frontend.dither: 1.0 would not be applied.*augment.noise"):
        build_loader(ds, SpeechTextPipeline(Fbank(dither=1.0).eval(), None, None), cfg, "train")
    assert build_loader(ds, SpeechTextPipeline(Fbank(dither=1.0).eval(), None, None), cfg, "valid") is not None


def test_in_collect_stats_without_any_augmentation_collects_the_clean_statistics(trained_digits, tmp_path):
    """``augment: {in_collect_stats: true}`` alone asks for no augmentation: the stage runs as without it."""
    from vocalis.stages.runner import run_stages

    stats = {}
    for name, extra in (("plain", []), ("flag_only", ["augment={in_collect_stats: true}"])):
        overrides = trained_digits.overrides + [f"stats_dir={tmp_path}/{name}"] + extra
        run_stages(trained_digits.path, ["collect_stats"], {"training": trained_digits.path / "conf/training.yaml"},
                   overrides)
        stats[name] = dict(np.load(tmp_path / name / "train" / "feats_stats.npz"))
    assert all(np.array_equal(stats["plain"][k], stats["flag_only"][k]) for k in stats["plain"])
