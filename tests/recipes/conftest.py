"""Recipe smoke tests run the real stages on a tiny copy of the digits corpus.

The recipes are copied into a temporary ``egs3/`` so nothing is written into the
repository, and the corpus is built once per test session.
"""

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
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
