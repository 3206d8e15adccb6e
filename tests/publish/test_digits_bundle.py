"""pack the tiny digits model, load the bundle anywhere, transcribe with it (float32 and int8);
tampering is refused."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from vocalis.cli import main
from vocalis.data.audio import load_audio
from vocalis.infer.scp import read_scp
from vocalis.infer.speech2text import Speech2Text
from vocalis.publish import BundleIntegrityError, InferenceModel
from vocalis.publish.pack import PackRequest, write_bundle
from vocalis.stages import pack as pack_stage
from vocalis.stages.runner import run_stages


@pytest.fixture(scope="module")
def packed(trained_digits):
    files = {**trained_digits.config_files(), "publication": trained_digits.path / "conf/publication.yaml"}
    results = run_stages(trained_digits.path, ["infer", "measure", "pack"], files, trained_digits.overrides)
    return trained_digits, results["pack"], files


def all_strings(node):
    if isinstance(node, dict):
        return [s for v in node.values() for s in all_strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in all_strings(v)]
    return [node] if isinstance(node, str) else []


def test_bundle_holds_weights_configs_tokenizer_stats_and_card(packed):
    recipe, bundle, _ = packed
    assert sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()) == [
        "README.md", "config.yaml", "inference.yaml", "int8_ranges.json", "meta.yaml", "metrics.json",
        "model.safetensors", "stats/train/feats_stats.npz", "tokenizer/tokenizer.model",
        "tokenizer/tokens.txt"]  # no src/: built-in model
    weights = load_file(str(bundle / "model.safetensors"))
    source = torch.load(next(recipe.exp_dir.glob("*.ave_*best.pth")), weights_only=True)
    assert weights.keys() == source.keys() and all(torch.equal(weights[k], source[k]) for k in source)
    for name in ("config.yaml", "inference.yaml"):
        strings = all_strings(yaml.safe_load((bundle / name).read_text()))
        assert not [s for s in strings if s.startswith("/") or str(recipe.path) in s], name
    config = yaml.safe_load((bundle / "config.yaml").read_text())
    assert config["tokenizer"]["save_path"] == "tokenizer" and "dataset" not in config
    meta = yaml.safe_load((bundle / "meta.yaml").read_text())
    assert meta["needs_user_code"] is False and meta["versions"]["torch"] == torch.__version__
    assert set(meta["files"]) == {"README.md", "config.yaml", "inference.yaml", "int8_ranges.json", "metrics.json",
                                  "model.safetensors", "stats/train/feats_stats.npz", "tokenizer/tokenizer.model",
                                  "tokenizer/tokens.txt"}
    wer = json.loads((recipe.inference_dir("inference") / "metrics.json").read_text())["WER"]
    card = (bundle / "README.md").read_text()
    for test, values in wer.items():
        assert f"| {test} | {values['WER']} | {values['Snt']} | {values['Wrd']} |" in card


def test_moved_bundle_transcribes_like_the_infer_stage(packed, tmp_path):
    recipe, bundle, _ = packed
    moved = shutil.copytree(bundle, tmp_path / "elsewhere" / "bundle")
    model = InferenceModel.from_packed(moved)
    hyp = read_scp(recipe.inference_dir("inference") / "test" / "hyp.scp")
    rows = [line.split("\t") for line in (recipe.path / "data/manifest/test.tsv").read_text().splitlines()[1:]]
    paths = [recipe.path / "data/manifest" / row[1] for row in rows]
    outputs = model(paths)  # a list: decoded in batches
    assert [o["text"] for o in outputs] == [hyp[row[0]] for row in rows]
    wave, rate = load_audio(paths[0])
    assert model(wave, rate) == outputs[0] == model(str(paths[0]))
    with pytest.raises(ValueError, match="pass sample_rate"):
        model(wave)


def test_changed_or_added_files_are_refused(packed, tmp_path):
    _, bundle, _ = packed
    changed = shutil.copytree(bundle, tmp_path / "changed")
    with open(changed / "tokenizer/tokens.txt", "a") as f:
        f.write("extra\n")
    with pytest.raises(BundleIntegrityError, match="changed tokenizer/tokens.txt"):
        InferenceModel.from_packed(changed)
    added = shutil.copytree(bundle, tmp_path / "added")
    (added / "src").mkdir()
    (added / "src" / "model.py").write_text("import os\n")
    with pytest.raises(BundleIntegrityError, match="not listed src/model.py"):
        InferenceModel.from_packed(added)


def test_pack_again_skips_and_other_settings_need_overwrite(packed):
    recipe, bundle, files = packed
    before = (bundle / "meta.yaml").stat().st_mtime_ns
    assert run_stages(recipe.path, ["pack"], files, recipe.overrides)["pack"] == bundle
    assert (bundle / "meta.yaml").stat().st_mtime_ns == before
    with pytest.raises(FileExistsError, match="publication.pack.overwrite=true"):
        run_stages(recipe.path, ["pack"], files, recipe.overrides + ["publication.pack.license=MIT"])
    # a bundle packed without int8 ranges (valid split unreadable then) is packed again, without overwrite
    ranges = (bundle / "int8_ranges.json").read_text()
    (bundle / "int8_ranges.json").unlink()
    assert run_stages(recipe.path, ["pack"], files, recipe.overrides)["pack"] == bundle
    assert (bundle / "int8_ranges.json").read_text() == ranges
    InferenceModel.from_packed(bundle)  # meta.yaml lists it again


def test_transcribe_cli_prints_ids_and_texts(packed, tmp_path, capsys):
    recipe, bundle, _ = packed
    audio = recipe.path / "data/audio/test"
    hyp = read_scp(recipe.inference_dir("inference") / "test" / "hyp.scp")
    assert main(["transcribe", str(bundle), str(audio), "--batch_size", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{utt}\t{text}" for utt, text in hyp.items()]  # folder order = sorted names = manifest order
    scp = tmp_path / "wav.scp"
    scp.write_text(f"first {audio / 'test_000001.flac'}\nsecond test_000000.flac\n")
    shutil.copy(audio / "test_000000.flac", tmp_path / "test_000000.flac")  # relative to the list's folder
    assert main(["transcribe", str(bundle), str(scp)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"first\t{hyp['test_000001']}", f"second\t{hyp['test_000000']}"]
    with pytest.raises(ValueError, match="two inputs get the id 'test_000000'"):
        main(["transcribe", str(bundle), str(audio / "test_000000.flac"), str(tmp_path / "test_000000.flac")])


def test_int8_from_the_bundle_decodes_like_the_experiments_int8_model(packed, tmp_path, capsys):
    """The ranges recorded at pack time are the ones the experiment records on its valid split, so
    the moved bundle's int8 copy is the experiment's, without the training data."""
    recipe, bundle, _ = packed
    source = recipe.exp_dir / yaml.safe_load((bundle / "meta.yaml").read_text())["source_checkpoint"]
    node = yaml.safe_load((bundle / "inference.yaml").read_text())["model"]
    experiment = Speech2Text(recipe.exp_dir, checkpoint=str(source), decode=node.get("decode", "ctc_greedy"),
                             dtype="int8")
    assert "`--dtype int8`" in (bundle / "README.md").read_text()
    recorded = json.loads((bundle / "int8_ranges.json").read_text())
    assert recorded == Speech2Text(recipe.exp_dir, checkpoint=str(source)).record_int8_ranges()
    assert recorded and all(r > 0 for ranges in recorded.values() for r in ranges)

    moved = shutil.copytree(bundle, tmp_path / "elsewhere" / "bundle")
    audio = sorted((recipe.path / "data/audio/test").glob("*.flac"))
    texts = [o["text"] for o in InferenceModel.from_packed(moved, dtype="int8")(audio)]
    assert texts == [o["text"] for o in experiment([load_audio(p)[0] for p in audio])]
    assert main(["transcribe", str(moved), str(recipe.path / "data/audio/test"), "--dtype", "int8"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{p.stem}\t{t}" for p, t in zip(audio, texts)]


def test_a_bundle_packed_without_the_valid_split_says_how_to_get_int8(packed, tmp_path, caplog):
    recipe, bundle, _ = packed
    exp = tmp_path / "exp"
    exp.mkdir()
    config = yaml.safe_load((recipe.exp_dir / "config.yaml").read_text())
    config["dataset"]["valid"][0]["data_src_args"]["manifest_dir"] = str(tmp_path / "gone")
    (exp / "config.yaml").write_text(yaml.safe_dump(config))
    checkpoint = shutil.copy(recipe.exp_dir / yaml.safe_load((bundle / "meta.yaml").read_text())["source_checkpoint"],
                             exp)
    request = PackRequest(exp_dir=exp, checkpoint=Path(checkpoint), model_node={"decode": "ctc_greedy"},
                          recipe="digits/asr")
    request.int8_ranges = pack_stage._int8_ranges(request)
    assert request.int8_ranges is None
    assert "will not decode with dtype int8" in caplog.text and "dataset.valid" in caplog.text
    float_only = write_bundle(request, tmp_path / "bundle")
    assert not (float_only / "int8_ranges.json").exists() and "int8" not in (float_only / "README.md").read_text()
    assert InferenceModel.from_packed(float_only)(sorted((recipe.path / "data/audio/test").glob("*.flac"))[0])["text"]
    with pytest.raises(FileNotFoundError, match="pack it again where the training data is, or use dtype float32"):
        InferenceModel.from_packed(float_only, dtype="int8")


def test_loading_a_bundle_does_not_import_the_training_stack(packed):
    """Lightning's import (torchmetrics, torch._dynamo, tensorboard) was ~6 s of a 7 s one-file
    ``vocalis transcribe``; inference builds models without it."""
    recipe, bundle, _ = packed
    audio = sorted((recipe.path / "data/audio/test").glob("*.flac"))[0]
    code = ("import sys; from vocalis.publish import InferenceModel; "
            f"print(InferenceModel.from_packed({str(bundle)!r})({str(audio)!r})['text']); "
            "print(sorted(m for m in ('lightning', 'torchmetrics', 'torch._dynamo') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    text, imported = done.stdout.splitlines()[-2:]
    assert text and imported == "[]"
