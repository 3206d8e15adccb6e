"""Corpus formats on tiny fixtures in their exact on-disk layout (tests/fixtures/)."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vocalis.data.audio import AudioError
from vocalis.data.formats import (JsonlDataset, KaldiDataDir, LibriSpeechDataset, ManifestDataset, read_kaldi_dir,
                                  read_librispeech)
from vocalis.data.organizer import DataOrganizer

FIX = Path(__file__).resolve().parents[1] / "fixtures"
LS = FIX / "librispeech" / "dev-tiny"
IDS = ["19-198-0000", "19-198-0001", "26-495-0000"]
TEXTS = ["NINE OH SIX", "TWO THREE", "SEVEN EIGHT FIVE"]


def flac(utt_id: str) -> np.ndarray:
    spk, chapter, _ = utt_id.split("-")
    return sf.read(LS / spk / chapter / f"{utt_id}.flac", dtype="float32")[0]


def test_librispeech_layout_items_texts_and_durations():
    ds = LibriSpeechDataset(LS)
    assert [ds[i]["utt_id"] for i in range(len(ds))] == IDS
    assert [ds.get_text(i) for i in range(len(ds))] == TEXTS
    for i, utt in enumerate(IDS):
        assert np.array_equal(ds[i]["speech"], flac(utt))
        assert ds.durations()[i] == pytest.approx(len(flac(utt)) / 16000)


def test_tsv_and_jsonl_manifests_read_the_same_utterances():
    ls = LibriSpeechDataset(LS)
    for ds in (ManifestDataset(FIX / "manifests", "tiny"), JsonlDataset(FIX / "manifests" / "tiny.jsonl")):
        assert [ds[i]["utt_id"] for i in range(len(ds))] == IDS
        assert [ds[i]["text"] for i in range(len(ds))] == TEXTS
        assert all(np.array_equal(ds[i]["speech"], ls[i]["speech"]) for i in range(len(ds)))
        assert np.allclose(ds.durations(), ls.durations(), atol=1e-3)


@pytest.mark.skipif(shutil.which("sox") is None, reason="the wav.scp pipe entry runs sox")
def test_kaldi_dir_with_a_sox_pipe_and_with_segments():
    plain = KaldiDataDir(FIX / "kaldi" / "data" / "train")
    assert [plain[i]["text"] for i in range(2)] == ["FOUR ONE", "SEVEN EIGHT FIVE"]
    assert plain.speakers() == ["spk1", "spk2"]
    assert np.array_equal(plain[1]["speech"], flac("26-495-0000")), "the pipe output is the FLAC's samples"
    assert plain[0]["speech"].shape == (sf.info(str(FIX / "kaldi" / "wav" / "a.wav")).frames,)
    assert plain.durations()[1] == pytest.approx(len(flac("26-495-0000")) / 16000)

    seg = KaldiDataDir(FIX / "kaldi" / "data" / "segmented")
    assert [r["utt_id"] for r in seg.rows] == ["rec1-0000", "rec1-0001"]
    recording = np.concatenate([flac("19-198-0000"), flac("19-198-0001")])
    for i, (start, end) in enumerate([(0.0, 0.988), (0.988, 1.743)]):
        expected = recording[round(start * 16000):round(end * 16000)]
        assert np.array_equal(seg[i]["speech"], expected), "segments cut the piped recording exactly"
    assert seg.durations().tolist() == pytest.approx([0.988, 0.755])


def test_kaldi_errors_name_the_file_and_the_id(tmp_path):
    data = tmp_path / "data" / "train"
    shutil.copytree(FIX / "kaldi" / "data" / "train", data)
    (data / "utt2spk").write_text("spk1-a spk1\n")
    with pytest.raises(ValueError, match=r"utt2spk has no entry for utterance spk2-b"):
        read_kaldi_dir(data)
    (data / "utt2spk").unlink()
    with pytest.raises(FileNotFoundError, match=r"utt2spk is missing.*wav.scp, text and utt2spk"):
        read_kaldi_dir(data)
    (data / "utt2spk").write_text("spk1-a spk1\nspk2-b spk2\n")
    (data / "wav.scp").write_text("spk1-a wav/a.wav\nspk2-b sox no_such.flac -t wav - |\n")
    with pytest.raises(AudioError, match=r"utterance spk2-b: pipe command failed"):
        KaldiDataDir(data)[1]


def test_librispeech_missing_data_names_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"<speaker>-<chapter>.trans.txt"):
        read_librispeech(tmp_path / "train-clean-100")
    (tmp_path / "x" / "1" / "2").mkdir(parents=True)
    (tmp_path / "x" / "1" / "2" / "1-2.trans.txt").write_text("1-2-0000 HELLO\n")
    with pytest.raises(ValueError, match=r"1-2.trans.txt:1: 1-2-0000.flac is missing"):
        read_librispeech(tmp_path / "x")


def test_formats_plug_into_the_organizer_by_module_path(tmp_path):
    cfg = {"train": [{"data_src": "vocalis.data.formats.librispeech", "data_src_args": {"subset_dirs": str(LS)}},
                     {"data_src": "vocalis.data.formats.jsonl",
                      "data_src_args": {"manifest": str(FIX / "manifests" / "tiny.jsonl")}}]}
    train = DataOrganizer(cfg, tmp_path).split("train")
    assert len(train) == 6 and train[4]["utt_id"] == "19-198-0001" and train.get_text(5) == "SEVEN EIGHT FIVE"
