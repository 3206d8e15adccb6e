"""inference.yaml keys with a plain callable model: input_key list, idx_key, output_keys, artifacts, RTF."""

import json

import numpy as np
import pytest
import soundfile as sf

from vocalis.data.manifest import ManifestDataset
from vocalis.infer.scp import read_scp
from vocalis.stages.runner import run_stages

ECHO_MODEL = '''import numpy as np


class EchoModel:
    """Any callable is a model: batched, it gets one list per input key."""

    def __init__(self, gain: float):
        self.gain = gain

    def __call__(self, speech, text):
        return [{"louder": self.gain * np.asarray(s), "words": t.split()} for s, t in zip(speech, text)]


def build_output(data, model_output, idx):
    return {"key": data["utt_id"], "index": idx, "louder": model_output["louder"],
            "first_samples": model_output["louder"][:8], "words": model_output["words"], "unused": 1}
'''
SETTINGS = """model:
  _target_: echo_model.EchoModel
  gain: 0.5
input_key: [speech, text]
output_fn: echo_model.build_output
idx_key: key
output_keys: [index, louder, first_samples, words]
batch_size: 3
shard_size: 4
output_artifacts:
  louder: {type: wav, sample_rate: 16000}
"""


@pytest.fixture(scope="module")
def echo_run(trained_digits, tmp_path_factory):
    code = tmp_path_factory.mktemp("echo_code")
    (code / "echo_model.py").write_text(ECHO_MODEL)
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(code))
        name = trained_digits.write_inference_config("inference_echo", SETTINGS)
        results = run_stages(trained_digits.path, ["infer", "measure"], trained_digits.config_files(name),
                             trained_digits.overrides + ["metrics.metrics=[]"])
    return trained_digits, trained_digits.inference_dir(name), results


def test_every_output_key_becomes_an_scp_in_dataset_order(echo_run):
    recipe, folder, _ = echo_run
    dataset = ManifestDataset(recipe.path / "data/manifest", "test")
    ids = [row["utt_id"] for row in dataset.rows]
    assert sorted(p.name for p in (folder / "test").glob("*.scp")) == [
        "first_samples.scp", "index.scp", "louder.scp", "words.scp"]  # only output_keys; idx_key is column 1
    index = read_scp(folder / "test" / "index.scp")
    assert list(index) == ids and list(index.values()) == [str(i) for i in range(len(ids))]


def test_non_scalar_outputs_are_files_named_in_the_scp(echo_run):
    recipe, folder, _ = echo_run
    dataset = ManifestDataset(recipe.path / "data/manifest", "test")
    wavs, npys = read_scp(folder / "test/louder.scp"), read_scp(folder / "test/first_samples.scp")
    words = read_scp(folder / "test/words.scp")
    for i, row in enumerate(dataset.rows):
        speech = dataset[i]["speech"]
        wav, rate = sf.read(wavs[row["utt_id"]], dtype="float32")
        assert wavs[row["utt_id"]] == str(folder / "test" / "louder" / f"{row['utt_id']}.wav")
        assert rate == 16000 and wav.shape == speech.shape
        assert np.max(np.abs(wav - 0.5 * speech)) < 1e-4  # PCM_16 rounding
        assert np.array_equal(np.load(npys[row["utt_id"]]), 0.5 * speech[:8])
        assert json.loads(open(words[row["utt_id"]]).read()) == row["text"].split()


def test_throughput_per_test_set_reaches_metrics_json(echo_run):
    recipe, folder, results = echo_run
    metrics = json.loads((folder / "metrics.json").read_text())
    for test in ("test", "test_human"):
        stats = metrics["throughput"][test]
        rows = ManifestDataset(recipe.path / "data/manifest", test).rows
        assert stats["utterances"] == len(rows)
        assert stats["audio_seconds"] == pytest.approx(sum(float(r["duration"]) for r in rows), abs=0.01 * len(rows))
        assert stats["rtf"] == pytest.approx(stats["wall_seconds"] / stats["audio_seconds"], abs=1e-4)  # wall is rounded to ms
        assert stats == results["infer"][test]


def test_unknown_artifact_type_is_refused(trained_digits):
    name = trained_digits.write_inference_config("inference_badwriter", "output_artifacts: {hyp: {type: mp4}}\n")
    with pytest.raises(ValueError, match=r"output_artifacts.hyp.type: 'mp4' is not one of"):
        run_stages(trained_digits.path, ["infer"], trained_digits.config_files(name), trained_digits.overrides)
