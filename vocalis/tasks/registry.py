"""``task:`` names -> task bridges. A dotted path names any class with ``to_direct_config``."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from vocalis.config.schema import ConfigKeyError, suggest

TASKS = {"asr": "vocalis.tasks.asr.task.ASRTask"}


def get_task(name: str) -> Any:
    """The task object for ``task: <name>`` (a built-in name or a dotted class path)."""
    from vocalis.config.instantiate import import_target

    if name in TASKS:
        return import_target(TASKS[name], "task")()
    if "." not in name:
        raise ConfigKeyError(f"task: {name!r} is not a built-in task{suggest(name, list(TASKS))}; built-in: "
                             f"{', '.join(TASKS)}, or give a dotted class path (my_pkg.tasks.MyTask)")
    task = import_target(name, "task")()
    if not hasattr(task, "to_direct_config"):
        raise TypeError(f"task: {name} has no to_direct_config(cfg) method; a task turns its named choices "
                        "into a model: {_target_: ...} config")
    return task


def resolve_task(cfg: DictConfig) -> DictConfig:
    """``cfg`` itself when ``task`` is unset, else the task's equivalent direct config."""
    if not cfg.get("task"):
        return cfg
    return get_task(str(cfg.task)).to_direct_config(cfg)
