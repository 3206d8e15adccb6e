"""TSV manifests: round trip, relative paths, and errors that give the line."""

import numpy as np
import pytest

from vocalis.data.audio import write_audio
from vocalis.data.manifest import ManifestDataset, read_manifest, write_manifest


def make_corpus(root):
    rows = []
    for k, (text, seconds) in enumerate([("one two", 0.5), ("three", 0.25)]):
        name = f"utt{k}"
        write_audio(root / "audio" / f"{name}.flac", np.full(int(16000 * seconds), 0.1, np.float32), 16000)
        rows.append({"utt_id": name, "path": f"../audio/{name}.flac", "text": text, "duration": seconds})
    write_manifest(root / "manifest" / "train.tsv", rows)
    return rows


def test_dataset_reads_items_texts_and_durations(tmp_path):
    make_corpus(tmp_path)
    moved = tmp_path.rename(tmp_path.with_name(tmp_path.name + "_moved"))  # relative paths survive a move
    ds = ManifestDataset(moved / "manifest", "train")
    assert len(ds) == 2
    item = ds[0]
    assert item["utt_id"] == "utt0" and item["text"] == "one two"
    assert item["speech"].dtype == np.float32 and item["speech"].shape == (8000,)
    assert ds.get_text(1) == "three"
    assert ds.durations().tolist() == [0.5, 0.25]


def test_manifest_errors_name_file_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="create_dataset"):
        read_manifest(tmp_path / "nope.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("utt_id\tpath\ttext\n")
    with pytest.raises(ValueError, match=r"lacks columns \['duration'\]"):
        read_manifest(bad)
    bad.write_text("utt_id\tpath\ttext\tduration\na\tx.flac\tone\t1.0\na\ty.flac\ttwo\t1.0\n")
    with pytest.raises(ValueError, match=r"bad.tsv:3: utt_id 'a' already on line 2"):
        read_manifest(bad)
    bad.write_text("utt_id\tpath\ttext\tduration\na b\tx.flac\tone\t1.0\n")
    with pytest.raises(ValueError, match="without whitespace"):
        read_manifest(bad)


def test_write_refuses_tabs_in_values(tmp_path):
    with pytest.raises(ValueError, match="u1.*'text' holds a tab"):
        write_manifest(tmp_path / "m.tsv", [{"utt_id": "u1", "path": "a.flac", "text": "a\tb", "duration": 1}])
    assert not (tmp_path / "m.tsv").exists()
