"""The stages in their declared order, the config each needs and where each logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from omegaconf import DictConfig

from vocalis.stages import collect_stats, create_dataset, infer, measure, train, train_tokenizer
from vocalis.stages.context import RunContext


@dataclass(frozen=True)
class StageSpec:
    name: str
    role: str                                  # the config the stage reads
    run: Callable[[RunContext], object]
    log_dir: Callable[[DictConfig], str]       # folder of <stage>.log, from that config


STAGES: tuple[StageSpec, ...] = (
    StageSpec("create_dataset", "training", create_dataset.run, lambda c: c.data_dir),
    StageSpec("train_tokenizer", "training", train_tokenizer.run, lambda c: c.tokenizer.save_path),
    StageSpec("collect_stats", "training", collect_stats.run, lambda c: c.stats_dir),
    StageSpec("train", "training", train.run, lambda c: c.exp_dir),
    StageSpec("infer", "inference", infer.run, lambda c: c.inference_dir),
    StageSpec("measure", "metrics", measure.run, lambda c: c.inference_dir),
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
