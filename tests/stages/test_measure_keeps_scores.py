"""Measuring one more test set keeps the scores of those measured before."""

import json

from vocalis.stages.runner import run_stages

ONLY_TEST = "inference.dataset.test=[{name: test, data_src_args: {manifest_dir: '${data_dir}/manifest', split: test}}]"


def test_a_run_over_fewer_test_sets_keeps_the_others_scores(trained_digits):
    name = trained_digits.write_inference_config("inference_measured_twice", "")
    files = trained_digits.config_files(name)
    first = run_stages(trained_digits.path, ["infer", "measure"], files, trained_digits.overrides)["measure"]
    metrics_file = trained_digits.inference_dir(name) / "metrics.json"
    assert set(json.loads(metrics_file.read_text())["WER"]) == {"test", "test_human"}

    again = run_stages(trained_digits.path, ["measure"], files, trained_digits.overrides + [ONLY_TEST])["measure"]
    saved = json.loads(metrics_file.read_text())
    assert set(saved["WER"]) == set(saved["CER"]) == {"test", "test_human"}
    assert saved["WER"]["test_human"] == first["WER"]["test_human"] == again["WER"]["test_human"]
    assert saved["WER"]["test"]["WER"] == first["WER"]["test"]["WER"]
    assert "test_human" in (trained_digits.inference_dir(name) / "results.md").read_text()

    # a test set whose folder is gone is not carried over
    (trained_digits.inference_dir(name) / "test_human" / "hyp.scp").unlink()
    (trained_digits.inference_dir(name) / "test_human").rename(trained_digits.inference_dir(name) / "_gone")
    run_stages(trained_digits.path, ["measure"], files, trained_digits.overrides + [ONLY_TEST])
    assert set(json.loads(metrics_file.read_text())["WER"]) == {"test"}


def test_an_earlier_score_measured_with_other_settings_or_outputs_is_not_kept(trained_digits, caplog):
    """Kept scores must be those the current metric settings give on the current scp files."""
    name = trained_digits.write_inference_config("inference_measured_otherwise", "")
    files = trained_digits.config_files(name)
    run_stages(trained_digits.path, ["infer", "measure"], files, trained_digits.overrides)
    metrics_file = trained_digits.inference_dir(name) / "metrics.json"

    sensitive = "metrics.metrics=[{_target_: vocalis.metrics.wer.WER, case: sensitive}]"
    run_stages(trained_digits.path, ["measure"], files, trained_digits.overrides + [ONLY_TEST, sensitive])
    assert set(json.loads(metrics_file.read_text())["WER"]) == {"test"}  # test_human's was case-folded
    assert "dropped the earlier WER score of test_human" in caplog.text

    run_stages(trained_digits.path, ["measure"], files, trained_digits.overrides)  # both, as at first
    hyp = trained_digits.inference_dir(name) / "test_human" / "hyp.scp"
    hyp.write_text(hyp.read_text().replace(" ", "  ", 1))  # outputs rewritten since (another decode)
    run_stages(trained_digits.path, ["measure"], files, trained_digits.overrides + [ONLY_TEST])
    assert set(json.loads(metrics_file.read_text())["WER"]) == {"test"}
