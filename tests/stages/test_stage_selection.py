"""pack is the last stage; it reads publication.yaml, given by --publication_config or publication.<key>=v."""

import logging
from pathlib import Path

import pytest

from vocalis.cli import main
from vocalis.stages.context import StageConfigError
from vocalis.stages.registry import STAGE_NAMES, select_stages
from vocalis.stages.runner import load_configs, run_stages, split_overrides

RECIPE = Path(__file__).resolve().parents[2] / "egs3" / "digits" / "asr"
ROLES = ("training", "inference", "metrics", "publication")


def files(*roles):
    return {role: RECIPE / f"conf/{role}.yaml" for role in roles}


def test_pack_runs_after_measure():
    assert STAGE_NAMES[-3:] == ("infer", "measure", "pack")
    assert [s.name for s in select_stages(["pack", "infer"])] == ["infer", "pack"]


def test_publication_overrides_and_linked_experiment():
    assert split_overrides(["publication.pack.overwrite=true", "seed=1"]) == {
        "training": ["seed=1"], "inference": [], "metrics": [], "publication": ["pack.overwrite=true"]}
    ctx = load_configs(RECIPE, files(*ROLES), ["exp_tag=big", "publication.pack.license=MIT"])
    publication = ctx.configs["publication"]
    assert publication.exp_dir == str(RECIPE / "exp" / "big") and publication.pack.license == "MIT"
    assert publication.pack.out_dir == str(RECIPE / "exp" / "big" / "bundle")
    assert publication.inference_dir == ctx.configs["inference"].inference_dir
    with pytest.raises(KeyError, match="did you mean 'overwrite'"):
        load_configs(RECIPE, files(*ROLES), ["publication.pack.overwrit=true"])


def test_all_skips_stages_without_a_config_but_a_named_stage_needs_it(caplog):
    with caplog.at_level(logging.WARNING):
        assert run_stages(RECIPE, ["all"], files("training", "inference", "metrics"), dry_run=True) == {}
    assert "stage pack skipped: no publication config" in caplog.text
    with pytest.raises(StageConfigError, match="--publication_config"):
        run_stages(RECIPE, ["pack"], files("training", "inference"), dry_run=True)


def test_ranks_above_zero_only_train(monkeypatch, caplog):
    monkeypatch.setenv("LOCAL_RANK", "1")
    with caplog.at_level(logging.INFO):
        run_stages(RECIPE, ["train", "infer", "measure", "pack"], files(*ROLES), dry_run=True)
    assert "rank 1: stages infer, measure, pack run on rank 0 only" in caplog.text
    assert "would run stage train" in caplog.text and "would run stage infer" not in caplog.text


def test_cli_takes_publication_config(capsys):
    assert main(["run", str(RECIPE), "--stages", "pack", "--dry_run", "--publication_config",
                 "conf/publication.yaml", "publication.pack.name=demo"]) == 0
    log = capsys.readouterr().err  # the CLI logs to stderr
    assert "would run stage pack (config: " in log and "conf/publication.yaml" in log
    with pytest.raises(FileNotFoundError, match="--publication_config conf/nope.yaml: no such file in the recipe "
                                                "folder .* \\(config paths are relative to it\\)"):
        main(["run", str(RECIPE), "--stages", "pack", "--dry_run", "--publication_config", "conf/nope.yaml"])


def test_a_config_path_holding_an_equals_sign_is_a_path_not_an_override(tmp_path, capsys):
    config = tmp_path / "training_lr=1e-3.yaml"
    config.write_text((RECIPE / "conf/training.yaml").read_text())
    assert main(["run", str(RECIPE), "--stages", "train", "--dry_run", "--training_config", str(config),
                 "seed=3"]) == 0
    assert f"config: {config}" in capsys.readouterr().err
