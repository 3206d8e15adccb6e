"""What every stage receives: the recipe folder and the resolved configs of this run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig


class StageConfigError(ValueError):
    """A stage was asked for but the config it needs was not given."""


@dataclass
class RunContext:
    recipe_dir: Path
    configs: dict[str, DictConfig | None] = field(default_factory=dict)
    config_files: dict[str, Path | None] = field(default_factory=dict)
    dry_run: bool = False

    def config(self, role: str, stage: str) -> DictConfig:
        cfg = self.configs.get(role)
        if cfg is None:
            raise StageConfigError(f"stage {stage!r} needs the {role} config: pass --{role}_config "
                                   f"(e.g. conf/{role}.yaml)")
        return cfg

    @property
    def training(self) -> DictConfig:
        return self.config("training", "this stage")
