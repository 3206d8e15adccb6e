"""A real SIGKILL in the middle of inference, then resume: the same bytes as a run never killed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vocalis.infer.scp import read_scp
from vocalis.infer.shards import StaleOutputsError
from vocalis.stages.runner import run_stages

REPO = Path(__file__).resolve().parents[2]
SLOW_OUTPUT = '''import time
from vocalis.infer.output import asr_output

def build_output(data, model_output, idx):
    time.sleep(0.2)  # slow enough that the test can kill the run between two shards
    return asr_output(data, model_output, idx)
'''
SETTINGS = "output_fn: slow_output.build_output\nshard_size: 2\nbatch_size: 2\n"


def manifest_ids(recipe: Path, split: str) -> list[str]:
    return [line.split("\t")[0] for line in (recipe / f"data/manifest/{split}.tsv").read_text().splitlines()[1:]]


def done_shards(test_dir: Path) -> list[Path]:
    return sorted(p for p in (test_dir / "shards").glob("shard.?????") if (p / ".shard.done").is_file())


def start_inference(trained, name: str, code_dir: Path) -> subprocess.Popen:
    script = ("import sys; from pathlib import Path; from vocalis.stages.runner import run_stages; "
              f"run_stages(Path({str(trained.path)!r}), ['infer'], {{k: Path(v) for k, v in "
              f"{ {k: str(v) for k, v in trained.config_files(name).items()}!r}.items()}}, {trained.overrides!r})")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(code_dir)]))
    return subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def kill_after_first_shard(proc: subprocess.Popen, test_dir: Path, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not done_shards(test_dir):
        if proc.poll() is not None:
            pytest.fail(f"inference ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
        if time.time() > deadline:
            proc.kill()
            pytest.fail("no shard finished in time")
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_killed_run_resumes_to_the_uninterrupted_output(trained_digits, tmp_path, monkeypatch):
    (tmp_path / "slow_output.py").write_text(SLOW_OUTPUT)
    monkeypatch.syspath_prepend(str(tmp_path))
    killed = trained_digits.write_inference_config("inference_killed", SETTINGS)
    reference = trained_digits.write_inference_config("inference_reference", SETTINGS)
    recipe = trained_digits.path
    test_dir = trained_digits.inference_dir(killed) / "test"

    kill_after_first_shard(start_inference(trained_digits, killed, tmp_path), test_dir)
    survivors = done_shards(test_dir)
    assert 1 <= len(survivors) < 3 and not (test_dir / "hyp.scp").exists()
    survivor_marks = {p: (p / ".shard.done").stat().st_mtime_ns for p in survivors}

    # a changed config must not be mixed with the shards of the killed run
    with pytest.raises(StaleOutputsError, match=r"different inference config, model checkpoint or test data.*rm -r"):
        run_stages(recipe, ["infer"], trained_digits.config_files(killed), trained_digits.overrides
                   + ["inference.batch_size=1"])

    resumed = run_stages(recipe, ["infer"], trained_digits.config_files(killed), trained_digits.overrides)["infer"]
    assert resumed["test"]["shards_resumed"] == len(survivors)
    assert {p: (p / ".shard.done").stat().st_mtime_ns for p in survivors} == survivor_marks  # not redone

    run_stages(recipe, ["infer"], trained_digits.config_files(reference), trained_digits.overrides)
    for test in ("test", "test_human"):
        for field in ("hyp", "ref"):
            got = trained_digits.inference_dir(killed) / test / f"{field}.scp"
            want = trained_digits.inference_dir(reference) / test / f"{field}.scp"
            assert got.read_bytes() == want.read_bytes(), f"{test}/{field}.scp"
            assert list(read_scp(got)) == manifest_ids(recipe, test)  # each id once, in dataset order


def test_changed_checkpoint_bytes_refuse_finished_outputs(trained_digits, tmp_path):
    weights = tmp_path / "weights.pth"
    weights.write_bytes(next(trained_digits.exp_dir.glob("*.ave_*best.pth")).read_bytes())
    name = trained_digits.write_inference_config("inference_ckpt", f"shard_size: 4\nmodel:\n  checkpoint: {weights}\n")
    files = trained_digits.config_files(name)
    run_stages(trained_digits.path, ["infer"], files, trained_digits.overrides)
    hyp = trained_digits.inference_dir(name) / "test" / "hyp.scp"
    before = hyp.read_bytes()
    assert run_stages(trained_digits.path, ["infer"], files, trained_digits.overrides)["infer"] == {}  # up to date

    state = torch.load(weights, weights_only=True)
    first = next(iter(state))
    state[first] = state[first] + 0.01  # same path, other weights: e.g. a retrained model
    torch.save(state, weights)
    with pytest.raises(StaleOutputsError, match="inference.overwrite=true"):
        run_stages(trained_digits.path, ["infer"], files, trained_digits.overrides)
    assert hyp.read_bytes() == before
    again = run_stages(trained_digits.path, ["infer"], files, trained_digits.overrides + ["inference.overwrite=true"])
    assert again["infer"]["test"]["shards_resumed"] == 0
    assert list(read_scp(hyp)) == manifest_ids(trained_digits.path, "test")
