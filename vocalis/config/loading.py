"""Load a recipe config: template defaults + recipe overrides + command-line ``key=value``.

The order is the one a researcher expects:

1. ``egs3/TEMPLATE/<system>/conf/<role>.yaml`` (shipped defaults),
2. the recipe's file (e.g. ``conf/training_conformer.yaml``), merged over it,
3. ``key=value`` overrides from the command line, merged last.

File-relative resolvers are expanded while loading, because they depend on
*which* file a value came from, which OmegaConf forgets after a merge:

- ``${self_name:}``: the stem of the recipe's config file (``training_conformer``),
  so ``exp_tag: ${self_name:}`` names the experiment after its config.
- ``${config_path:rel/path}``: ``rel/path`` made absolute against the folder of the
  recipe's config file.

Everything else is ordinary OmegaConf interpolation, resolved once after the configs
have been linked (see :mod:`vocalis.config.propagation`).
"""

from __future__ import annotations

import re
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

from vocalis.config.schema import check_unknown_keys

TEMPLATE_ROOT = Path(__file__).resolve().parents[2] / "egs3" / "TEMPLATE"
_SELF_NAME = re.compile(r"\$\{self_name:\s*\}")
_CONFIG_PATH = re.compile(r"\$\{config_path:\s*([^}]*)\}")


def template_path(system: str, role: str) -> Path:
    """Path of the shipped default ``<role>.yaml`` for ``system`` (e.g. ``asr``)."""
    path = TEMPLATE_ROOT / system / "conf" / f"{role}.yaml"
    if not path.is_file():
        known = sorted(p.name for p in TEMPLATE_ROOT.iterdir() if p.is_dir()) if TEMPLATE_ROOT.is_dir() else []
        raise FileNotFoundError(f"no template {path} for system {system!r} and role {role!r}; known systems: {known}")
    return path


def _expand_file_resolvers(text: str, config_file: Path) -> str:
    text = _SELF_NAME.sub(config_file.stem, text)
    return _CONFIG_PATH.sub(lambda m: str((config_file.parent / m.group(1).strip()).resolve()), text)


def _load_yaml(path: Path, config_file: Path) -> DictConfig:
    """Load ``path`` with the file resolvers expanded for the recipe's ``config_file``."""
    try:
        cfg = OmegaConf.create(_expand_file_resolvers(path.read_text(encoding="utf-8"), config_file))
    except Exception as err:  # yaml errors carry line numbers; add the file name
        raise ValueError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(cfg, DictConfig):
        raise ValueError(f"{path}: a config file must hold a mapping at the top level, found {type(cfg).__name__}")
    return cfg


def _drop_replaced_targets(base: DictConfig, override: DictConfig) -> None:
    """Where ``override`` names another ``_target_``, the default node is replaced, not merged.

    Merging ``{_target_: A, a_arg: 1}`` with ``{_target_: B}`` would hand ``a_arg`` to ``B``.
    """
    base_keys = set(base.keys())
    for key in list(override.keys()):
        if key not in base_keys:
            continue
        new, old = override._get_node(key), base._get_node(key)
        if not (isinstance(new, DictConfig) and isinstance(old, DictConfig)):
            continue
        if new._is_none() or old._is_none() or new._is_missing() or old._is_missing():
            continue
        if "_target_" in new and new.get("_target_") != old.get("_target_"):
            del base[key]
        else:
            _drop_replaced_targets(old, new)


def merge_over(base: DictConfig, override: DictConfig) -> DictConfig:
    """OmegaConf merge (dicts merge, lists replace), but a new ``_target_`` replaces its node."""
    base = base.copy()
    _drop_replaced_targets(base, override)
    return OmegaConf.merge(base, override)


def parse_overrides(overrides: list[str]) -> DictConfig:
    """``["trainer.max_epochs=2", "seed=3"]`` -> a config to merge last.

    Values are parsed as YAML (``a=1`` is an int, ``a=[1,2]`` a list, ``a=null`` None).
    """
    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise ValueError(f"override {item!r} is not of the form key=value (e.g. trainer.max_epochs=2)")
    return OmegaConf.from_dotlist(list(overrides))


# the run's folders: a relative value is the recipe's, wherever the command is started from
FOLDER_KEYS = ("data_dir", "exp_dir", "stats_dir", "inference_dir")


def _anchor_folders(cfg: DictConfig) -> None:
    """A literal relative ``data_dir: mydata`` (file or command line) becomes ``<recipe_dir>/mydata``:
    ``python run.py`` in the recipe and ``vocalis run egs3/...`` from the repository write to one place."""
    for key in FOLDER_KEYS:
        node = cfg._get_node(key) if key in cfg else None
        if node is None or node._is_missing() or node._is_none() or node._is_interpolation():
            continue
        value = str(node._value())
        if not Path(value).is_absolute():
            cfg[key] = str(Path(cfg.recipe_dir) / value)


def _merge_overrides(cfg: DictConfig, overrides: list[str], config_file: Path) -> DictConfig:
    """``cfg`` with the command-line ``overrides``; one that reaches into a list is refused by name."""
    try:
        return merge_over(cfg, parse_overrides(overrides))
    except Exception as err:  # e.g. dataset.test.1.name=x: OmegaConf cannot merge a dict into a list
        if "ListConfig" not in str(err):
            raise
        item = next((o for o in overrides if _fails_to_merge(cfg, o)), overrides[0])
        raise ValueError(f"override {item!r} for {config_file}: {item.split('=', 1)[0]} goes through a list, and "
                         "lists are replaced whole on the command line, e.g. "
                         "inference.dataset.test=[{name: t, data_src_args: {manifest_dir: ..., split: t}}] "
                         f"({type(err).__name__}: {str(err).splitlines()[0]})") from err


def _fails_to_merge(cfg: DictConfig, override: str) -> bool:
    try:
        merge_over(cfg, parse_overrides([override]))
    except Exception:
        return True
    return False


def load_config(
    config_file: str | Path,
    role: str,
    recipe_dir: str | Path,
    system: str = "asr",
    overrides: list[str] | None = None,
    check_keys: bool = True,
) -> DictConfig:
    """Load one role's config (``training``, ``inference``, ``metrics``, ``publication``).

    Returns the merged, *unresolved* config with ``recipe_dir`` set to the recipe's
    absolute folder. Unknown keys are rejected with a "did you mean" suggestion.
    """
    config_file = Path(config_file).resolve()
    if not config_file.is_file():
        raise FileNotFoundError(f"{role} config {config_file} does not exist")
    template = _load_yaml(template_path(system, role), config_file)
    user = _load_yaml(config_file, config_file)
    cfg = merge_over(template, user)
    if overrides:
        cfg = _merge_overrides(cfg, overrides, config_file)
    recipe_dir = Path(recipe_dir).resolve()
    given = cfg.get("recipe_dir") if "recipe_dir" in user or (overrides and any(o.startswith("recipe_dir=") for o in overrides)) else None
    cfg.recipe_dir = str((recipe_dir / given).resolve()) if given else str(recipe_dir)
    _anchor_folders(cfg)
    if check_keys:
        check_unknown_keys(cfg, template, where=str(config_file))
    return cfg


def to_plain(cfg: DictConfig | ListConfig) -> dict | list:
    """Resolved plain Python containers (for fingerprints and ``config.yaml`` dumps)."""
    return OmegaConf.to_container(cfg, resolve=True)
