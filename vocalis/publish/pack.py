"""Write a bundle: everything needed to run a trained model, and nothing machine-specific.

    <out_dir>/
      model.safetensors          the weights the inference config decodes with
      config.yaml                the experiment's config, paths bundle-relative, no data locations
      inference.yaml             the model node (decoding settings) and batching of the inference config
      tokenizer/                 tokenizer.model, tokens.txt
      stats/train/feats_stats.npz  global feature statistics (normalize: global_mvn)
      metrics.json               the measure stage's results, when there are any
      int8_ranges.json           conv-front activation ranges for dtype int8 (recorded at pack time)
      src/                       the recipe's code, only when the model needs it (_target_: src....)
      README.md                  the model card
      meta.yaml                  versions and the sha256 of every file above

The bundle is built in ``<out_dir>.partial`` and renamed into place when complete.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from safetensors.torch import save_file

from vocalis.publish.meta import write_meta
from vocalis.train.weights_io import read_weights

USER_CODE_PACKAGES = ("src.", "dataset.")
DROPPED_SECTIONS = ("dataset", "create_dataset")  # where the training data was: not part of a model
TOKENIZER_FILES = ("tokenizer.model", "tokens.txt")
STATS_FILE = "stats/train/feats_stats.npz"
INT8_RANGES_FILE = "int8_ranges.json"


@dataclass
class PackRequest:
    """What one bundle is made of.

    Args:
        exp_dir: the trained experiment (holds ``config.yaml``).
        checkpoint: the weights file to publish (``.pth`` state dict or Lightning ``.ckpt``).
        model_node: the inference config's ``model:`` node, plain (``_target_``, ``decode``, ...).
        recipe: ``<recipe>/<system>`` for the model card.
        metrics_file: ``metrics.json`` of the measure stage, if it exists.
        include_src: ``auto``, True or False.
        int8_ranges: :meth:`~vocalis.infer.speech2text.Speech2Text.record_int8_ranges` of the
            checkpoint, so the bundle decodes with ``dtype: int8`` away from the training data;
            None leaves them out.
    """

    exp_dir: Path
    checkpoint: Path
    model_node: dict
    recipe: str
    metrics_file: Path | None = None
    include_src: str | bool = "auto"
    inference_settings: dict = field(default_factory=dict)
    card: dict = field(default_factory=dict)
    int8_ranges: dict | None = None


def user_code_targets(node: Any) -> list[str]:
    """Every ``_target_`` under ``node`` that lives in a recipe's own packages (``src.``, ``dataset.``)."""
    found: list[str] = []
    if isinstance(node, dict):
        target = node.get("_target_")
        if isinstance(target, str) and target.startswith(USER_CODE_PACKAGES):
            found.append(target)
        for value in node.values():
            found += user_code_targets(value)
    elif isinstance(node, list):
        for value in node:
            found += user_code_targets(value)
    return found


def _rebase(node: Any, moved: dict[str, str]) -> Any:
    """Absolute paths under a folder of ``moved`` (old folder -> its name in the bundle: an interpolation
    of a copy, or ``.`` for the recipe) become paths under that name; the first folder that matches wins."""
    if isinstance(node, dict):
        return {k: _rebase(v, moved) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v, moved) for v in node]
    if isinstance(node, str):
        for old, new in moved.items():
            if node.startswith(old + os.sep):
                return new + "/" + os.path.relpath(node, old)
    return node


def bundle_config(exp_config: dict) -> dict:
    """The experiment config with bundle-relative paths and without data locations.

    A path the config spells out under the tokenizer's or the statistics' folder (an ejected model's
    ``token_list: /.../tokenizer/word_14/tokens.txt``) becomes an interpolation of the bundle's copy
    (``${tokenizer.save_path}/tokens.txt``): the bundle decodes away from the recipe."""
    cfg = {k: v for k, v in exp_config.items() if k not in DROPPED_SECTIONS}
    recipe_dir = str(cfg.get("recipe_dir", ""))
    moved = {str(cfg["stats_dir"]): "${stats_dir}"} if isinstance(cfg.get("stats_dir"), str) else {}
    if isinstance(cfg.get("tokenizer"), dict) and isinstance(cfg["tokenizer"].get("save_path"), str):
        moved[cfg["tokenizer"]["save_path"]] = "${tokenizer.save_path}"
    if recipe_dir:  # other files of the recipe stay recipe-relative (./...)
        moved[recipe_dir] = "."
    cfg = _rebase(cfg, {old: new for old, new in moved.items() if os.path.isabs(old)})
    cfg.update(recipe_dir=".", data_dir=".", exp_dir=".", stats_dir="stats")
    if isinstance(cfg.get("tokenizer"), dict):
        cfg["tokenizer"] = {**cfg["tokenizer"], "save_path": "tokenizer"}
    return cfg


def _copy_src(recipe_dir: Path, dest: Path) -> None:
    src = recipe_dir / "src"
    if not src.is_dir():
        raise FileNotFoundError(f"the model needs recipe code but {src} does not exist")
    shutil.copytree(src, dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _write_yaml(path: Path, data: dict) -> None:
    path.write_text(OmegaConf.to_yaml(OmegaConf.create(data)))


def write_bundle(request: PackRequest, out_dir: str | Path) -> Path:
    """Build the bundle of ``request`` at ``out_dir`` (replacing what is there); returns ``out_dir``."""
    from vocalis.publish.model_card import render_model_card

    out_dir = Path(out_dir)
    exp_config = OmegaConf.to_container(OmegaConf.load(request.exp_dir / "config.yaml"), resolve=True)
    recipe_dir = Path(exp_config["recipe_dir"])
    targets = user_code_targets({k: v for k, v in exp_config.items() if k not in DROPPED_SECTIONS})
    needs_src = bool(targets) if request.include_src == "auto" else bool(request.include_src)
    if targets and not needs_src:
        raise ValueError(f"the model needs recipe code ({', '.join(sorted(set(targets)))}) but pack.include_src is "
                         "false; set it to auto or true")
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    state = read_weights(request.checkpoint)
    save_file({k: v.detach().contiguous().clone() for k, v in state.items()}, str(tmp / "model.safetensors"))
    # interpolations stay (e.g. token_list: ${tokenizer.save_path}/tokens.txt) so they follow the moved paths
    raw_config = OmegaConf.to_container(OmegaConf.load(request.exp_dir / "config.yaml"), resolve=False)
    _write_yaml(tmp / "config.yaml", bundle_config(raw_config))
    model_node = {**request.model_node, "exp_dir": ".", "checkpoint": "model.safetensors"}
    _write_yaml(tmp / "inference.yaml", {"model": model_node, **request.inference_settings})
    tokenizer_dir = Path(exp_config["tokenizer"]["save_path"])
    (tmp / "tokenizer").mkdir()
    for name in TOKENIZER_FILES:
        shutil.copy2(tokenizer_dir / name, tmp / "tokenizer" / name)
    stats = Path(exp_config["stats_dir"]) / "train" / "feats_stats.npz"
    if exp_config.get("normalize") == "global_mvn":
        (tmp / STATS_FILE).parent.mkdir(parents=True)
        shutil.copy2(stats, tmp / STATS_FILE)
    if request.metrics_file is not None and request.metrics_file.is_file():
        shutil.copy2(request.metrics_file, tmp / "metrics.json")
    if request.int8_ranges is not None:
        (tmp / INT8_RANGES_FILE).write_text(json.dumps(request.int8_ranges, indent=1) + "\n")
    if needs_src:
        _copy_src(recipe_dir, tmp)
    n_params = sum(v.numel() for v in state.values())
    (tmp / "README.md").write_text(render_model_card(request, exp_config, model_node, n_params, needs_src))
    write_meta(tmp, recipe=request.recipe, exp_tag=exp_config.get("exp_tag"), needs_user_code=needs_src,
               user_code_targets=sorted(set(targets)), model_target=model_node.get("_target_"),
               source_checkpoint=request.checkpoint.name)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir
