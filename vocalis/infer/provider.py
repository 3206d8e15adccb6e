"""InferenceProvider: builds what a runner needs for one test set, from inference.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from vocalis.config.instantiate import instantiate
from vocalis.data.organizer import DataOrganizer


class InferenceProvider:
    """``build_dataset(name)`` from ``dataset.test``, ``build_model()`` from ``model:``.

    Subclass it (and point ``provider._target_`` at the subclass) to build either
    differently, e.g. a model with an external language model.
    """

    def __init__(self, inference_config: DictConfig, recipe_dir: str | Path):
        self.config, self.recipe_dir = inference_config, Path(recipe_dir)
        self.organizer = DataOrganizer(inference_config.dataset, self.recipe_dir)
        self._model: Any = None
        self._datasets: dict[str, Any] = {}

    def test_names(self) -> list[str]:
        return self.organizer.test_names()

    def build_dataset(self, name: str) -> Any:
        """Test set ``name`` of ``dataset.test`` (built once, then reused for its shards)."""
        if name not in self._datasets:
            self._datasets[name] = self.organizer.test(name)
        return self._datasets[name]

    def build_model(self) -> Any:
        """The model of ``model:``, built once and shared by all test sets of a run."""
        if self._model is None:
            self._model = instantiate(self.config.model, "model")
        return self._model
