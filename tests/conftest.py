"""Session fixtures for every test folder.

``recipes`` and ``tiny_corpus`` are the ones of ``tests/recipes/conftest.py`` (loaded from
there, not copied), so folders outside tests/recipes build the same tiny digits corpus;
``trained_digits`` trains a tiny CTC model on it once per session.
"""

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("vocalis_tests_recipes_conftest",
                                               Path(__file__).parent / "recipes" / "conftest.py")
_recipes_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_recipes_conftest)
recipes = _recipes_conftest.recipes
tiny_corpus = _recipes_conftest.tiny_corpus

TINY_MODEL = ["model.num_layers=1", "model.d_model=64", "model.ffn_dim=128", "trainer.max_epochs=1",
              "dataloader.batch_size=8"]


@dataclass
class TrainedRecipe:
    """A digits recipe copy with a tiny trained experiment in ``exp/training``."""

    path: Path
    overrides: list[str]

    @property
    def exp_dir(self) -> Path:
        return self.path / "exp" / "training"

    def config_files(self, inference: str = "inference", metrics: str = "metrics") -> dict:
        conf = self.path / "conf"
        return {"training": conf / "training.yaml", "inference": conf / f"{inference}.yaml",
                "metrics": conf / f"{metrics}.yaml"}

    def write_inference_config(self, name: str, extra: str) -> str:
        """``conf/<name>.yaml``: the recipe's inference.yaml plus ``extra`` YAML keys; its outputs go to
        ``exp/training/<name>``. Returns ``name``."""
        base = (self.path / "conf" / "inference.yaml").read_text()
        (self.path / "conf" / f"{name}.yaml").write_text(base + "\n" + extra)
        return name

    def inference_dir(self, name: str) -> Path:
        return self.exp_dir / name


@pytest.fixture(scope="session")
def trained_digits(recipes, tiny_corpus) -> TrainedRecipe:
    from vocalis.stages.runner import run_stages

    recipe = recipes["digits"]
    overrides = tiny_corpus + TINY_MODEL
    run_stages(recipe, ["train_tokenizer", "collect_stats", "train"], {"training": recipe / "conf/training.yaml"},
               overrides)
    return TrainedRecipe(recipe, overrides)
