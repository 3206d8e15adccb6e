"""The stages in their declared order, the config each needs and where each logs."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Callable

from omegaconf import DictConfig

from vocalis.stages.context import RunContext


@dataclass(frozen=True)
class StageSpec:
    name: str
    role: str                                  # the config the stage reads
    log_dir: Callable[[DictConfig], str]       # folder of <stage>.log, from that config

    def run(self, ctx: RunContext) -> object:
        """Import ``vocalis.stages.<name>`` only when the stage runs (training pulls in Lightning)."""
        return import_module(f"vocalis.stages.{self.name}").run(ctx)


STAGES: tuple[StageSpec, ...] = (
    StageSpec("create_dataset", "training", lambda c: c.data_dir),
    StageSpec("train_tokenizer", "training", lambda c: c.tokenizer.save_path),
    StageSpec("collect_stats", "training", lambda c: c.stats_dir),
    StageSpec("train", "training", lambda c: c.exp_dir),
    StageSpec("infer", "inference", lambda c: c.inference_dir),
    StageSpec("measure", "metrics", lambda c: c.inference_dir),
    StageSpec("pack", "publication", lambda c: c.exp_dir),
)
STAGE_NAMES = tuple(s.name for s in STAGES)


def select_stages(requested: list[str]) -> list[StageSpec]:
    """Requested stages in declared order (``all`` = every stage); unknown names are an error."""
    from vocalis.config.schema import suggest

    names = set(STAGE_NAMES) if "all" in requested else set(requested)
    for name in names:
        if name not in STAGE_NAMES:
            raise ValueError(f"unknown stage {name!r}{suggest(name, list(STAGE_NAMES))}; stages: {', '.join(STAGE_NAMES)}, all")
    return [s for s in STAGES if s.name in names]
