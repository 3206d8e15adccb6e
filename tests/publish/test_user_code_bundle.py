"""A model from recipe code (seed_minimal's src.model.MyModel): src/ travels, loading needs trust."""

import pytest
import yaml

from vocalis.infer.scp import read_scp
from vocalis.publish import InferenceModel, UntrustedCodeError
from vocalis.stages.runner import run_stages


@pytest.fixture(scope="module")
def seed_bundle(recipes, tiny_corpus, trained_digits):  # trained_digits: the shared tiny corpus is built
    recipe = recipes["seed_minimal"]
    files = {role: recipe / f"conf/{role}.yaml" for role in ("training", "inference", "metrics", "publication")}
    # its own experiment: tests/recipes/test_seed_minimal.py trains exp/training of the same copy
    overrides = tiny_corpus + ["trainer.max_epochs=1", "dataloader.batch_size=8", "model.hidden_size=32",
                               "exp_tag=packed"]
    results = run_stages(recipe, ["train_tokenizer", "collect_stats", "train", "infer", "pack"], files, overrides)
    return recipe, results["pack"]


def test_src_is_packed_and_listed_only_when_the_model_needs_it(seed_bundle):
    recipe, bundle = seed_bundle
    meta = yaml.safe_load((bundle / "meta.yaml").read_text())
    assert meta["needs_user_code"] is True and meta["user_code_targets"] == ["src.model.MyModel"]
    assert (bundle / "src/model.py").read_text() == (recipe / "src/model.py").read_text()
    assert {"src/model.py", "src/inference.py"} <= set(meta["files"])
    assert "trust_user_code=True" in (bundle / "README.md").read_text()


def test_user_code_runs_only_when_trusted(seed_bundle):
    recipe, bundle = seed_bundle
    with pytest.raises(UntrustedCodeError, match=r"src\.model\.MyModel.*trust_user_code=True"):
        InferenceModel.from_packed(bundle)
    model = InferenceModel.from_packed(bundle, trust_user_code=True)
    hyp = read_scp(recipe / "exp/packed/inference/test/hyp.scp")
    manifest = recipe.parents[1] / "digits/asr/data/manifest"
    rows = [line.split("\t") for line in (manifest / "test.tsv").read_text().splitlines()[1:]]
    assert [o["text"] for o in model([manifest / r[1] for r in rows])] == [hyp[r[0]] for r in rows]


def test_bytecode_in_a_bundle_is_refused_and_loading_writes_none(seed_bundle, tmp_path):
    """A planted src/__pycache__/*.pyc would run instead of the src/*.py a user read (same mtime and size)."""
    import importlib.util
    import py_compile
    import shutil

    from vocalis.publish.meta import BundleIntegrityError

    _, bundle = seed_bundle
    InferenceModel.from_packed(bundle, trust_user_code=True)
    assert not list(bundle.rglob("*.pyc"))  # importing the trusted src/ left no cache in the bundle
    planted = tmp_path / "bundle"
    shutil.copytree(bundle, planted)
    source = planted / "src" / "model.py"
    py_compile.compile(str(source), cfile=importlib.util.cache_from_source(str(source)))
    with pytest.raises(BundleIntegrityError, match=r"not listed src/__pycache__/model\..*\.pyc \(Python bytecode"):
        InferenceModel.from_packed(planted, trust_user_code=True)
    (planted / "meta.yaml").write_text("")
    with pytest.raises(BundleIntegrityError, match="is not a bundle's meta.yaml"):
        InferenceModel.from_packed(planted, trust_user_code=True)
