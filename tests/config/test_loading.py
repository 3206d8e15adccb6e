"""Config loading: template merge, file resolvers, overrides, unknown keys, propagation."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from vocalis.config.loading import load_config
from vocalis.config.propagation import resolve
from vocalis.config.schema import ConfigKeyError
from vocalis.stages.runner import load_configs, split_overrides


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_recipe_merges_over_template_and_self_name_names_the_experiment(tmp_path):
    cfg_file = write(tmp_path / "conf" / "training_big.yaml", "model: {_target_: torch.nn.Linear, in_features: 2, out_features: 3}\n"
                     "trainer: {max_epochs: 3}\n")
    cfg = load_config(cfg_file, "training", tmp_path)
    resolve(cfg, "t")
    assert cfg.exp_tag == "training_big"
    assert cfg.exp_dir == f"{tmp_path}/exp/training_big"
    assert cfg.trainer.max_epochs == 3
    assert cfg.trainer.gradient_clip_val == 1.0  # template default kept
    assert cfg.optimizer._target_ == "torch.optim.Adam"


def test_config_path_resolver_is_relative_to_the_config_file(tmp_path):
    cfg_file = write(tmp_path / "conf" / "training.yaml", "model: {_target_: x}\ncreate_dataset: {lexicon: '${config_path:../lex.txt}'}\n")
    cfg = load_config(cfg_file, "training", tmp_path)
    assert cfg.create_dataset.lexicon == str(tmp_path / "lex.txt")


def test_unknown_top_level_key_suggests_the_right_one(tmp_path):
    cfg_file = write(tmp_path / "conf" / "training.yaml", "model: {_target_: x}\ntokeniser: {vocab_size: 3}\n")
    with pytest.raises(ConfigKeyError, match=r"unknown key 'tokeniser' \(did you mean 'tokenizer'\?\)"):
        load_config(cfg_file, "training", tmp_path)


def test_unknown_nested_key_names_its_path(tmp_path):
    cfg_file = write(tmp_path / "conf" / "training.yaml", "model: {_target_: x}\ndataloader: {batch_sise: 3}\n")
    with pytest.raises(ConfigKeyError, match=r"'dataloader.batch_sise' \(did you mean 'batch_size'\?\)"):
        load_config(cfg_file, "training", tmp_path)


def test_unknown_dataset_entry_key(tmp_path):
    cfg_file = write(tmp_path / "conf" / "training.yaml", "model: {_target_: x}\ndataset: {train: [{data_source: a}]}\n")
    with pytest.raises(ConfigKeyError, match=r"dataset.train\[0\].data_source' \(did you mean 'data_src'\?\)"):
        load_config(cfg_file, "training", tmp_path)


def test_open_nodes_take_any_key(tmp_path):
    cfg_file = write(tmp_path / "conf" / "training.yaml", "model: {_target_: x, anything: 1}\ncreate_dataset: {whatever: 2}\n")
    cfg = load_config(cfg_file, "training", tmp_path)
    assert cfg.model.anything == 1 and cfg.create_dataset.whatever == 2


def test_a_new_target_replaces_the_default_node_instead_of_merging(tmp_path):
    cfg_file = write(tmp_path / "conf" / "training.yaml", "model: {_target_: x}\noptimizer: {_target_: torch.optim.SGD, momentum: 0.9}\n")
    cfg = load_config(cfg_file, "training", tmp_path)
    assert OmegaConf.to_container(cfg.optimizer) == {"_target_": "torch.optim.SGD", "momentum": 0.9}


def test_command_line_overrides_win_and_are_checked(tmp_path):
    cfg_file = write(tmp_path / "conf" / "training.yaml", "model: {_target_: x}\n")
    cfg = load_config(cfg_file, "training", tmp_path, overrides=["trainer.max_epochs=7", "seed=3"])
    assert cfg.trainer.max_epochs == 7 and cfg.seed == 3
    with pytest.raises(ConfigKeyError, match="did you mean 'max_epochs'"):
        load_config(cfg_file, "training", tmp_path, overrides=["trainer.max_epoch=7"])


def test_overrides_are_routed_by_prefix():
    routed = split_overrides(["trainer.max_epochs=1", "inference.batch_size=4", "metrics.test_sets=[a]"])
    assert routed == {"training": ["trainer.max_epochs=1"], "inference": ["batch_size=4"], "metrics": ["test_sets=[a]"],
                      "publication": []}


def test_experiment_identity_flows_from_training_to_inference_and_metrics(tmp_path):
    write(tmp_path / "conf" / "training_x.yaml", "model: {_target_: x}\n")
    write(tmp_path / "conf" / "inference_beam.yaml", "dataset: {test: [{name: t}]}\n")
    write(tmp_path / "conf" / "metrics.yaml", "{}\n")
    ctx = load_configs(tmp_path, {"training": "conf/training_x.yaml", "inference": "conf/inference_beam.yaml",
                                  "metrics": "conf/metrics.yaml"}, [])
    assert ctx.configs["inference"].exp_dir == f"{tmp_path}/exp/training_x"
    assert ctx.configs["inference"].inference_dir == f"{tmp_path}/exp/training_x/inference_beam"
    assert ctx.configs["metrics"].inference_dir == ctx.configs["inference"].inference_dir
    assert ctx.configs["inference"].model.exp_dir == f"{tmp_path}/exp/training_x"


def test_inference_without_training_needs_an_exp_tag(tmp_path):
    write(tmp_path / "conf" / "inference.yaml", "dataset: {test: [{name: t}]}\n")
    with pytest.raises(ValueError, match="exp_tag"):
        load_configs(tmp_path, {"inference": "conf/inference.yaml"}, [])


def test_the_runs_corpus_and_experiment_keys_go_to_every_config_that_has_them():
    routed = split_overrides(["data_dir=/scratch/digits", "exp_tag=big", "seed=1", "inference.batch_size=2"])
    assert routed["training"] == ["data_dir=/scratch/digits", "exp_tag=big", "seed=1"]
    assert routed["inference"] == ["data_dir=/scratch/digits", "exp_tag=big", "batch_size=2"]
    assert routed["metrics"] == routed["publication"] == ["exp_tag=big"]
    assert split_overrides(["exp_tag=big"], ("inference",))["inference"] == ["exp_tag=big"]


def test_a_moved_corpus_is_the_one_inferred(tmp_path):
    write(tmp_path / "conf" / "training.yaml", "model: {_target_: x}\n")
    write(tmp_path / "conf" / "inference.yaml",
          "dataset: {test: [{name: t, data_src_args: {manifest_dir: '${data_dir}/manifest'}}]}\n")
    ctx = load_configs(tmp_path, {"training": "conf/training.yaml", "inference": "conf/inference.yaml"},
                       ["data_dir=/scratch/digits"])
    assert ctx.configs["training"].data_dir == ctx.configs["inference"].data_dir == "/scratch/digits"
    assert ctx.configs["inference"].dataset.test[0].data_src_args.manifest_dir == "/scratch/digits/manifest"


def test_an_inference_exp_tag_the_training_config_would_replace_is_refused_with_the_fix(tmp_path):
    write(tmp_path / "conf" / "training.yaml", "model: {_target_: x}\n")
    write(tmp_path / "conf" / "inference.yaml", "dataset: {test: [{name: t}]}\n")
    files = {"training": "conf/training.yaml", "inference": "conf/inference.yaml"}
    with pytest.raises(ValueError, match=r"inference.exp_tag=other: .* without the prefix .*--training_config ''"):
        load_configs(tmp_path, files, ["inference.exp_tag=other"])


def test_inference_and_metrics_without_training_share_the_inference_configs_experiment(tmp_path):
    write(tmp_path / "conf" / "inference.yaml", "dataset: {test: [{name: t}]}\n")
    write(tmp_path / "conf" / "metrics.yaml", "{}\n")
    ctx = load_configs(tmp_path, {"inference": "conf/inference.yaml", "metrics": "conf/metrics.yaml"},
                       ["inference.exp_tag=earlier"])
    assert ctx.configs["metrics"].exp_dir == f"{tmp_path}/exp/earlier"
    assert ctx.configs["metrics"].inference_dir == ctx.configs["inference"].inference_dir == \
        f"{tmp_path}/exp/earlier/inference"


def test_an_override_into_a_list_names_itself_and_the_whole_list_form(tmp_path):
    cfg_file = write(tmp_path / "conf" / "inference.yaml", "dataset: {test: [{name: a}, {name: b}]}\n")
    with pytest.raises(ValueError, match=r"'dataset.test.1.name=c' .* lists are replaced whole .*dataset.test=\["):
        load_config(cfg_file, "inference", tmp_path, overrides=["dataset.test.1.name=c"])
    cfg = load_config(cfg_file, "inference", tmp_path, overrides=["dataset.test=[{name: c}]"])
    assert [t.name for t in cfg.dataset.test] == ["c"]


def test_a_relative_data_dir_is_the_recipes_wherever_the_run_starts(tmp_path, monkeypatch):
    cfg_file = write(tmp_path / "recipe" / "conf" / "training.yaml", "model: {_target_: x}\nexp_dir: runs/a\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(cfg_file, "training", tmp_path / "recipe", overrides=["data_dir=mydata"])
    assert cfg.data_dir == str(tmp_path / "recipe" / "mydata") and cfg.exp_dir == str(tmp_path / "recipe" / "runs/a")
    assert load_config(cfg_file, "training", tmp_path / "recipe", overrides=["data_dir=/abs/d"]).data_dir == "/abs/d"


def test_an_override_only_another_config_has_names_its_prefix(tmp_path):
    write(tmp_path / "conf" / "training.yaml", "model: {_target_: x}\n")
    with pytest.raises(ConfigKeyError, match=r"'batch_size=1': the training config has no 'batch_size' .* write "
                                             r"inference.batch_size=1"):
        load_configs(tmp_path, {"training": "conf/training.yaml"}, ["batch_size=1"])
