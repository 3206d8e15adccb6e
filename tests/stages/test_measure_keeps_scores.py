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
