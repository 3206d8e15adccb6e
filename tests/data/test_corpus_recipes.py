"""Builders of the LibriSpeech-100 and AN4 recipes on data in the corpora's own layouts."""

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from vocalis.data.manifest import read_manifest

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "tests" / "fixtures"


def recipe_dataset(name: str):
    """The recipe's dataset package, imported under a unique name."""
    init = REPO / "egs3" / name / "asr" / "dataset" / "__init__.py"
    spec = importlib.util.spec_from_file_location(f"_test_{name}_dataset", init, submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_librispeech_builder_writes_manifests_the_dataset_reads(tmp_path):
    ls = recipe_dataset("librispeech_100")
    source = tmp_path / "LibriSpeech"
    shutil.copytree(FIX / "librispeech" / "dev-tiny", source / "dev-clean")
    kwargs = {"librispeech_dir": str(source), "data_dir": str(tmp_path / "data"), "subsets": ["dev_clean"]}
    builder = ls.DatasetBuilder()
    assert builder.is_source_prepared(**kwargs) and not builder.is_built(**kwargs)
    builder.build(**kwargs)
    assert builder.is_built(**kwargs)
    ds = ls.Dataset(tmp_path / "data" / "manifest", "dev_clean")
    assert [ds[i]["text"] for i in range(len(ds))] == ["NINE OH SIX", "TWO THREE", "SEVEN EIGHT FIVE"]
    expected = sf.read(source / "dev-clean" / "26" / "495" / "26-495-0000.flac", dtype="float32")[0]
    assert np.array_equal(ds[2]["speech"], expected)
    assert ds.durations()[2] == pytest.approx(len(expected) / 16000, abs=1e-3)


def test_librispeech_builder_names_the_missing_subsets_and_the_layout(tmp_path):
    builder = recipe_dataset("librispeech_100").DatasetBuilder()
    kwargs = {"librispeech_dir": str(tmp_path), "data_dir": str(tmp_path / "data")}
    assert not builder.is_source_prepared(**kwargs)
    with pytest.raises(FileNotFoundError, match=r"\['train-clean-100', .*openslr.org/12.*<speaker>-<chapter>.trans.txt"):
        builder.prepare_source(**kwargs)
    with pytest.raises(FileNotFoundError, match="librispeech_dir is not set"):
        builder.prepare_source(data_dir=str(tmp_path))


def make_an4(root: Path) -> None:
    """A 4-utterance AN4 copy in the an4_sphere layout (NIST SPHERE audio)."""
    rng = np.random.default_rng(0)
    for split, folder, utts in [("train", "an4_clstk", [("fash", "an251", "b", "YES"), ("fash", "an253", "b", "NO"),
                                                         ("mgah", "an1", "b", "ENTER SIX")]),
                                ("test", "an4test_clstk", [("fcaw", "cen1", "b", "RUBOUT G")])]:
        fileids, lines = [], []
        for spk, name, suffix, text in utts:
            fileid = f"{folder}/{spk}/{name}-{spk}-{suffix}"
            (root / "wav" / folder / spk).mkdir(parents=True, exist_ok=True)
            sf.write(root / "wav" / f"{fileid}.sph", rng.uniform(-0.3, 0.3, 8000).astype(np.float32), 16000,
                     format="NIST", subtype="PCM_16")
            fileids.append(fileid)
            lines.append(f"<s> {text} </s> ({spk}-{name}-{suffix})")
        (root / "etc").mkdir(exist_ok=True)
        (root / "etc" / f"an4_{split}.fileids").write_text("\n".join(fileids) + "\n")
        (root / "etc" / f"an4_{split}.transcription").write_text("\n".join(lines) + "\n")


def test_an4_builder_reads_sphere_and_splits_dev_off_train(tmp_path):
    an4 = recipe_dataset("an4")
    make_an4(tmp_path / "an4")
    kwargs = {"an4_dir": str(tmp_path / "an4"), "data_dir": str(tmp_path / "data"), "num_dev": 1}
    builder = an4.DatasetBuilder()
    builder.build(**kwargs)
    assert builder.is_built(**kwargs) and not builder.is_built(**{**kwargs, "num_dev": 2})
    manifest = tmp_path / "data" / "manifest"
    assert [r["utt_id"] for r in read_manifest(manifest / "train_dev.tsv")] == ["fash-an251-b"]
    assert [r["text"] for r in read_manifest(manifest / "train_nodev.tsv")] == ["NO", "ENTER SIX"]
    test = an4.Dataset(manifest, "test")
    assert test[0]["text"] == "RUBOUT G" and test[0]["speech"].shape == (8000,)
    with pytest.raises(FileNotFoundError, match=r"an4_dir is not set.*an4_sphere.tar.gz"):
        builder.prepare_source(data_dir=str(tmp_path / "data"))


@pytest.mark.parametrize("recipe,missing", [("librispeech_100", "librispeech_dir"), ("an4", "an4_dir")])
def test_recipe_configs_load_and_create_dataset_says_where_the_data_must_be(tmp_path, recipe, missing):
    template = (REPO / "egs3" / "TEMPLATE" / "asr" / "conf" / "training.yaml").read_text()
    if "encoder_conf" not in template:
        pytest.skip("the task bridge keys (encoder, encoder_conf, ...) are not in the template yet")
    from vocalis.config.loading import load_config
    from vocalis.stages.runner import run_stages

    dest = tmp_path / "egs3" / recipe / "asr"
    shutil.copytree(REPO / "egs3" / recipe / "asr", dest, ignore=shutil.ignore_patterns("data", "exp", "__pycache__"))
    cfg = load_config(dest / "conf" / "training.yaml", "training", dest)
    assert cfg.task == "asr" and cfg.model_conf.ctc_weight == 0.3 and cfg.encoder_conf.output_size == 256
    load_config(dest / "conf" / "inference.yaml", "inference", dest)
    with pytest.raises(FileNotFoundError, match=f"{missing} is not set.*Expected layout"):
        run_stages(dest, ["create_dataset"], {"training": dest / "conf" / "training.yaml"}, [])
