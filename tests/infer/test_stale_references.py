"""A corrected transcript in a test manifest makes that test set's outputs stale: no old ref.scp is scored."""

import pytest

from vocalis.infer.scp import read_scp
from vocalis.infer.shards import StaleOutputsError
from vocalis.stages.runner import run_stages


def copied_test_set(trained, name: str) -> tuple:
    """``conf/<name>.yaml`` decoding a copy of the test manifest (audio paths made absolute); returns the
    manifest file and its rows."""
    manifest_dir = trained.path / "data" / f"manifest_{name}"
    manifest_dir.mkdir(exist_ok=True)
    lines = (trained.path / "data/manifest/test.tsv").read_text().splitlines()
    header, rows = lines[0], [line.split("\t") for line in lines[1:]]
    for row in rows:
        row[1] = str((trained.path / "data/manifest" / row[1]).resolve())
    manifest = manifest_dir / "test.tsv"
    manifest.write_text("\n".join([header] + ["\t".join(r) for r in rows]) + "\n")
    (trained.path / "conf" / f"{name}.yaml").write_text(
        f"dataset:\n  test:\n    - name: test\n      data_src_args: {{manifest_dir: {manifest_dir}, split: test}}\n")
    return manifest, header, rows


def test_a_changed_reference_refuses_the_old_outputs_and_a_fresh_run_scores_it(trained_digits):
    name = "inference_corrected_refs"
    manifest, header, rows = copied_test_set(trained_digits, name)
    files = trained_digits.config_files(name)
    run_stages(trained_digits.path, ["infer"], files, trained_digits.overrides)
    ref = trained_digits.inference_dir(name) / "test" / "ref.scp"
    assert read_scp(ref)[rows[0][0]] == rows[0][2]

    rows[0][2] = "one two three"  # the transcript is corrected; ids and audio stay
    manifest.write_text("\n".join([header] + ["\t".join(r) for r in rows]) + "\n")
    with pytest.raises(StaleOutputsError, match="different inference config, model checkpoint or test data"):
        run_stages(trained_digits.path, ["infer"], files, trained_digits.overrides)
    run_stages(trained_digits.path, ["infer"], files, trained_digits.overrides + ["inference.overwrite=true"])
    assert read_scp(ref)[rows[0][0]] == "one two three"
