"""The default recipe end to end on a tiny corpus: files, ids, numbers, skip and staleness rules."""

import json
from pathlib import Path

import jiwer
import pytest

from vocalis.infer.scp import read_scp
from vocalis.stages.runner import run_stages



def manifest_ids(recipe: Path, split: str) -> list[str]:
    lines = (recipe / "data" / "manifest" / f"{split}.tsv").read_text().splitlines()
    return [line.split("\t")[0] for line in lines[1:]]


def config_files(recipe: Path) -> dict:
    return {role: recipe / f"conf/{role}.yaml" for role in ("training", "inference", "metrics")}


@pytest.fixture(scope="module")
def digits_run(recipes, tiny_corpus, tiny_model):
    recipe = recipes["digits"]
    results = run_stages(recipe, ["all"], config_files(recipe), tiny_corpus + tiny_model)
    return recipe, results, tiny_corpus + tiny_model


def test_every_stage_logs_where_documented(digits_run):
    recipe, _, _ = digits_run
    exp = recipe / "exp" / "training"
    for log in [recipe / "data/create_dataset.log", recipe / "data/tokenizer/bpe_30/train_tokenizer.log",
                recipe / "exp/stats/collect_stats.log", exp / "train.log", exp / "inference/infer.log",
                exp / "inference/measure.log"]:
        assert log.is_file() and log.stat().st_size > 0, log
    assert (exp / "config.yaml").is_file() and list(exp.glob("valid.loss.ave_*best.pth"))


def test_scp_ids_follow_the_test_manifests(digits_run):
    recipe, _, _ = digits_run
    for test in ("test", "test_human"):
        folder = recipe / "exp/training/inference" / test
        ids = manifest_ids(recipe, test)
        assert list(read_scp(folder / "hyp.scp")) == ids
        ref = read_scp(folder / "ref.scp")
        assert list(ref) == ids
        texts = [line.split("\t")[2] for line in (recipe / "data/manifest" / f"{test}.tsv").read_text().splitlines()[1:]]
        assert list(ref.values()) == texts


def test_metrics_json_matches_an_independent_count(digits_run):
    recipe, results, _ = digits_run
    inference_dir = recipe / "exp/training/inference"
    metrics = json.loads((inference_dir / "metrics.json").read_text())
    for test in ("test", "test_human"):
        hyp, ref = read_scp(inference_dir / test / "hyp.scp"), read_scp(inference_dir / test / "ref.scp")
        refs, hyps = list(ref.values()), [hyp[k] for k in ref]
        words = jiwer.process_words(refs, hyps)
        errors = words.substitutions + words.deletions + words.insertions
        n_words = sum(len(r.split()) for r in refs)
        assert metrics["WER"][test]["WER"] == pytest.approx(100.0 * errors / n_words, abs=0.01)
        chars = jiwer.process_characters([r.replace(" ", "") for r in refs], [h.replace(" ", "") for h in hyps])
        n_chars = sum(len(r.replace(" ", "")) for r in refs)
        assert metrics["CER"][test]["CER"] == pytest.approx(
            100.0 * (chars.substitutions + chars.deletions + chars.insertions) / n_chars, abs=0.01)
        assert metrics["throughput"][test]["utterances"] == len(refs)
        # per voice (metrics.yaml group_by: voice): the manifest's voice column, and groups that add up
        rows = [line.split("\t") for line in (recipe / "data/manifest" / f"{test}.tsv").read_text().splitlines()[1:]]
        assert read_scp(inference_dir / test / "voice.scp") == {r[0]: r[4] for r in rows}
        by_voice = metrics["WER"][test]["by_voice"]
        assert set(by_voice) == {r[4] for r in rows}
        assert sum(g["n_err"] for g in by_voice.values()) == errors
        assert sum(g["Snt"] for g in by_voice.values()) == len(refs)
    assert (inference_dir / "results.md").read_text().count("test_human") >= 2


def test_rerun_skips_finished_work(digits_run):
    recipe, _, overrides = digits_run
    exp = recipe / "exp/training"
    before = {p: p.stat().st_mtime_ns for p in [exp / "last.pth", exp / "inference/test/hyp.scp",
                                                 recipe / "exp/stats/train/feats_stats.npz"]}
    run_stages(recipe, ["all"], config_files(recipe), overrides)
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert "skipping" in (exp / "train.log").read_text()


def test_changed_config_refuses_to_reuse_the_experiment(digits_run):
    recipe, _, overrides = digits_run
    with pytest.raises(RuntimeError, match=r"different config \(changed: model\)"):
        run_stages(recipe, ["train"], config_files(recipe), overrides + ["model.num_heads=2"])


def test_loader_speed_settings_do_not_make_the_experiment_stale(digits_run):
    recipe, _, overrides = digits_run
    exp = recipe / "exp/training"
    before = (exp / "last.pth").stat().st_mtime_ns
    run_stages(recipe, ["train"], config_files(recipe), overrides + [
        "dataloader.num_workers=0", "dataloader.feature_cache_gb=0.5", "dataloader.precompute_features=false"])
    assert (exp / "last.pth").stat().st_mtime_ns == before
    assert "already trained with this config, skipping" in (exp / "train.log").read_text()


def test_dry_run_runs_nothing(recipes, tiny_corpus, tmp_path):
    recipe = recipes["digits"]
    results = run_stages(recipe, ["all"], config_files(recipe), tiny_corpus + ["exp_tag=never_made"], dry_run=True)
    assert results == {} and not (recipe / "exp/never_made").exists()
