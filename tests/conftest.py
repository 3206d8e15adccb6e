"""Session fixtures for every test folder.

``recipes``: copies of the digits and seed recipes in a temporary ``egs3/`` (nothing is
written into the repository) whose tiny digits corpus is built once per session;
``tiny_corpus``: the overrides that shrink it; ``tiny_model`` / ``tiny_conformer``: the overrides
that shrink the CTC Transformer / the task-bridge conformer configs; ``trained_digits``: a tiny CTC model
trained on it once per session.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_CORPUS = ["create_dataset.num_train=24", "create_dataset.num_valid=6", "create_dataset.num_test=6",
               "create_dataset.num_test_human=4"]


def copy_recipe(name: str, dest_root: Path) -> Path:
    src = REPO / "egs3" / name
    dest = dest_root / "egs3" / name
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("data", "exp", "__pycache__"))
    return dest


@pytest.fixture(scope="session")
def tiny_corpus() -> list[str]:
    """Overrides that shrink the digits corpus to a few utterances per split."""
    return list(TINY_CORPUS)


@pytest.fixture(scope="session")
def recipes(tmp_path_factory) -> dict[str, Path]:
    """Copies of the digits and seed recipes whose tiny corpus has been built."""
    if shutil.which("espeak-ng") is None or shutil.which("flite") is None:
        pytest.skip("the digits corpus needs espeak-ng and flite: apt-get install espeak-ng flite asterisk-core-sounds-en-wav")
    from vocalis.stages.runner import run_stages

    root = tmp_path_factory.mktemp("recipes")
    paths = {name: copy_recipe(f"{name}/asr", root) for name in ("digits", "seed_minimal")}
    run_stages(paths["digits"], ["create_dataset"], {"training": paths["digits"] / "conf/training.yaml"}, TINY_CORPUS)
    return paths


TINY_MODEL = ["model.num_layers=1", "model.d_model=64", "model.ffn_dim=128", "trainer.max_epochs=1",
              "dataloader.batch_size=8"]


@pytest.fixture(scope="session")
def tiny_model() -> list[str]:
    """Overrides that shrink the digits CTC Transformer to one small layer trained one epoch."""
    return list(TINY_MODEL)


TINY_CONFORMER = ["encoder_conf.num_blocks=1", "encoder_conf.output_size=32", "encoder_conf.attention_heads=2",
                  "encoder_conf.linear_units=64", "decoder_conf.linear_units=64", "decoder_conf.attention_heads=2",
                  "trainer.max_epochs=1", "dataloader.batch_size=8"]


@pytest.fixture(scope="session")
def tiny_conformer() -> list[str]:
    """Overrides that shrink the task-bridge conformer configs (``training_conformer*.yaml``) to one
    small block and a small decoder trained one epoch."""
    return list(TINY_CONFORMER)


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
