"""An unreadable test file is skipped and listed; the rest of the run is scored."""

import json

import pytest

from vocalis.infer.scp import read_scp
from vocalis.stages.runner import run_stages


def broken_test_set(trained, name: str, n_bad: int) -> list[str]:
    """A copy of the test manifest whose first ``n_bad`` rows point at corrupt files; returns all ids."""
    manifest_dir = trained.path / "data" / f"manifest_{name}"
    manifest_dir.mkdir(exist_ok=True)
    lines = (trained.path / "data/manifest/test.tsv").read_text().splitlines()
    header, rows = lines[0], [line.split("\t") for line in lines[1:]]
    for k, row in enumerate(rows):
        if k < n_bad:
            corrupt = manifest_dir / f"{row[0]}.flac"
            corrupt.write_bytes(b"not a flac file")
            row[1] = corrupt.name
        else:
            row[1] = str((trained.path / "data/manifest" / row[1]).resolve())
    (manifest_dir / "test.tsv").write_text("\n".join([header] + ["\t".join(r) for r in rows]) + "\n")
    config = trained.path / "conf" / f"{name}.yaml"
    config.write_text(f"dataset:\n  test:\n    - name: test\n      data_src_args: {{manifest_dir: {manifest_dir}, "
                      "split: test}\nshard_size: 2\n")
    return [r[0] for r in rows]


def test_bad_file_is_skipped_listed_and_not_scored(trained_digits):
    ids = broken_test_set(trained_digits, "inference_broken", 1)
    files = trained_digits.config_files("inference_broken")
    results = run_stages(trained_digits.path, ["infer", "measure"], files, trained_digits.overrides)
    out = trained_digits.inference_dir("inference_broken")
    assert list(read_scp(out / "test/hyp.scp")) == ids[1:] == list(read_scp(out / "test/ref.scp"))
    assert (out / "test/bad_utts").read_text().startswith(f"{ids[0]}\t")
    assert json.loads((out / "test/infer_stats.json").read_text())["skipped_unreadable"] == 1
    assert results["measure"]["WER"]["test"]["Snt"] == len(ids) - 1


def test_a_mostly_broken_test_set_stops_the_run(trained_digits):
    broken_test_set(trained_digits, "inference_mostly_broken", 4)
    with pytest.raises(RuntimeError, match="4 of 6 utterances are unreadable.*fix its audio paths"):
        run_stages(trained_digits.path, ["infer"], trained_digits.config_files("inference_mostly_broken"),
                   trained_digits.overrides)
