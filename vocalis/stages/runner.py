"""Run stages of a recipe: load and link the configs, then each stage in declared order."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from vocalis.config.loading import load_config, template_path
from vocalis.config.schema import ConfigKeyError
from vocalis.config.propagation import propagate, resolve
from vocalis.cpu_threads import limit_numpy_blas
from vocalis.recipe import activate_recipe
from vocalis.stages.context import RunContext
from vocalis.stages.registry import StageSpec, select_stages

log = logging.getLogger("vocalis")
ROLES = ("training", "inference", "metrics", "publication")
ROLE_PREFIXES = {"inference.": "inference", "metrics.": "metrics", "publication.": "publication",
                 "training.": "training"}


# one run's corpus and experiment: an un-prefixed override of these goes to every config that has the key
RUN_KEYS = {"data_dir": ("training", "inference"), "exp_tag": ROLES, "exp_dir": ROLES}
# what the training config decides for the others (vocalis.config.propagation)
LINKED_KEYS = ("exp_tag", "exp_dir")


def split_overrides(overrides: list[str], roles_given: tuple[str, ...] = ROLES) -> dict[str, list[str]]:
    """``key=value`` overrides per role: ``inference.x=1``, ``metrics.x=1`` and ``publication.x=1`` go there,
    ``data_dir``, ``exp_tag`` and ``exp_dir`` to every given config that has them (``data_dir=/scratch``
    moves the test sets with the training data), the rest to training."""
    out: dict[str, list[str]] = {role: [] for role in ROLES}
    for item in overrides:
        for prefix, role in ROLE_PREFIXES.items():
            if item.startswith(prefix):
                out[role].append(item[len(prefix):])
                break
        else:
            key = item.split("=", 1)[0]
            for role in [r for r in RUN_KEYS.get(key, ("training",)) if r in roles_given] or ["training"]:
                out[role].append(item)
    return out


def _check_routing(per_role: dict[str, list[str]], system: str) -> None:
    """An un-prefixed override whose key only another role's config has (``batch_size=1``) names the prefix."""
    import yaml

    top_keys = {role: set(yaml.safe_load(template_path(system, role).read_text()) or {}) for role in ROLES}
    for item in per_role["training"]:
        top = item.split("=", 1)[0].split(".")[0]
        owners = [role for role in ROLES[1:] if top in top_keys[role]]
        if top not in top_keys["training"] and owners:
            raise ConfigKeyError(f"override {item!r}: the training config has no {top!r} (un-prefixed overrides go to "
                                 f"training); for the {owners[0]} config write {owners[0]}.{item}")


def _check_linked_overrides(per_role: dict[str, list[str]], has_training: bool) -> None:
    """``inference.exp_tag=x`` with a training config would be replaced by the training config's value."""
    if not has_training:
        return
    for role in ("inference", "metrics", "publication"):
        for item in per_role[role]:
            key = item.split("=", 1)[0]
            if key in LINKED_KEYS and item not in per_role["training"]:
                raise ValueError(f"{role}.{item}: the run's experiment comes from the training config, which would "
                                 f"replace this {key}; give {item} without the prefix (every config), or pass "
                                 "--training_config '' to infer or measure an experiment without it")


def load_configs(recipe_dir: Path, config_files: dict[str, str | Path | None], overrides: list[str],
                 system: str = "asr") -> RunContext:
    """Load, link and resolve the configs of one run."""
    per_role = split_overrides(overrides, tuple(r for r in ROLES if config_files.get(r)))
    _check_routing(per_role, system)
    _check_linked_overrides(per_role, bool(config_files.get("training")))
    for role, items in per_role.items():
        if items and not config_files.get(role):
            raise ValueError(f"overrides {items} are for the {role} config, but no --{role}_config was given")
    configs, files = {}, {}
    for role in ROLES:
        path = config_files.get(role)
        if path is None:
            configs[role], files[role] = None, None
            continue
        path = Path(path) if Path(path).is_absolute() else recipe_dir / path
        files[role] = path
        configs[role] = load_config(path, role, recipe_dir, system, per_role[role])
    propagate(configs)
    for role, cfg in configs.items():
        if cfg is not None:
            resolve(cfg, str(files[role]))
    return RunContext(recipe_dir=recipe_dir, configs=configs, config_files=files)


def process_rank() -> int:
    """This process's rank in a multi-process (DDP) launch: ``RANK``, else ``LOCAL_RANK``, else 0."""
    for var in ("RANK", "LOCAL_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


@contextmanager
def stage_log(stage: StageSpec, log_dir: Path) -> Iterator[Path]:
    """Copy everything logged during a stage to ``<log_dir>/<stage>.log`` (an old log is kept as ``<stage>.1.log``)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{stage.name}.log"
    if path.exists():
        path.replace(log_dir / f"{stage.name}.1.log")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(min(old_level, logging.INFO))  # the file gets INFO even when the caller's console shows less
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


def run_stages(recipe_dir: str | Path, stages: list[str], config_files: dict[str, str | Path | None],
               overrides: list[str] | None = None, dry_run: bool = False) -> dict:
    """Run ``stages`` of the recipe in ``recipe_dir``; returns ``{stage: result}``."""
    limit_numpy_blas()  # see vocalis.cpu_threads: numpy's spinning BLAS threads slow torch's
    recipe_dir = activate_recipe(recipe_dir)
    selected = select_stages(stages)
    ctx = load_configs(recipe_dir, config_files, overrides or [])
    ctx.dry_run = dry_run
    if "all" in stages:  # "all" = every stage whose config was given; a named stage needs its config
        for stage in [s for s in selected if ctx.configs.get(s.role) is None]:
            log.warning("stage %s skipped: no %s config (pass --%s_config)", stage.name, stage.role, stage.role)
        selected = [s for s in selected if ctx.configs.get(s.role) is not None]
    for stage in selected:
        ctx.config(stage.role, stage.name)  # fail before any work when a config is missing
    rank = process_rank()
    if rank != 0:  # DDP re-runs the script per rank: every rank trains, only rank 0 infers, measures, packs
        after = [s.name for s in selected if s.role != "training"]
        if after:
            log.info("rank %d: stages %s run on rank 0 only", rank, ", ".join(after))
        selected = [s for s in selected if s.role == "training"]
    results = {}
    for stage in selected:
        cfg = ctx.configs[stage.role]
        log_dir = Path(stage.log_dir(cfg))
        if dry_run:
            log.info("[dry run] would run stage %s (config: %s, log: %s/%s.log)", stage.name,
                     ctx.config_files[stage.role], log_dir, stage.name)
            continue
        with stage_log(stage, log_dir):
            log.info("=== stage %s ===", stage.name)
            results[stage.name] = stage.run(ctx)
    return results
