"""The digits reuse configs: new vocabulary with a kept encoder, and a LoRA fine-tune."""

import json

import numpy as np
import pytest
import torch

from vocalis.infer.speech2text import Speech2Text
from vocalis.data.manifest import ManifestDataset
from vocalis.stages.runner import run_stages
from vocalis.train.weights_io import read_weights


def reuse_config(recipe, name: str) -> dict:
    """The shipped config, pointed at this test's pre-trained experiment."""
    text = (recipe / f"conf/{name}.yaml").read_text().replace("path: exp/training", "path: exp/pretrain")
    path = recipe / f"conf/{name}_test.yaml"
    path.write_text(text)
    return {"training": path}


@pytest.fixture(scope="module")
def pretrained(recipes, tiny_corpus, tiny_model):
    recipe = recipes["digits"]
    overrides = tiny_corpus + tiny_model + ["trainer.max_epochs=2"]  # the last value of a key wins
    run_stages(recipe, ["train_tokenizer", "collect_stats", "train"], {"training": recipe / "conf/training.yaml"},
               overrides + ["exp_tag=pretrain"])
    return recipe, tiny_corpus + tiny_model


def test_new_vocabulary_keeps_the_encoder_and_reinitialises_the_head(pretrained):
    recipe, overrides = pretrained
    run_stages(recipe, ["train_tokenizer", "train"], reuse_config(recipe, "training_finetune_bpe50"), overrides)
    exp = recipe / "exp" / "training_finetune_bpe50_test"
    report = json.loads((exp / "init_report.json").read_text())
    encoder = [k for k in read_weights(recipe / "exp/pretrain") if k.startswith("encoder.")]
    assert sorted(report["loaded"]) == sorted(encoder)
    assert sorted(report["new"]) == ["ctc_head.bias", "ctc_head.weight"] and not report["skipped_shape"]
    assert read_weights(exp / "last.pth")["ctc_head.weight"].shape[0] == 50


def test_lora_trains_only_adapters_and_every_export_decodes_alike(pretrained):
    recipe, overrides = pretrained
    run_stages(recipe, ["train"], reuse_config(recipe, "training_lora"), overrides)
    exp = recipe / "exp" / "training_lora_test"
    base, tuned = read_weights(recipe / "exp/pretrain"), read_weights(exp / "last.pth")
    for name, value in tuned.items():
        if ".lora_" not in name:
            assert torch.equal(value, base[name.replace(".base.", ".")]), name
    assert any(".lora_B." in k and v.abs().sum() > 0 for k, v in tuned.items())
    assert (exp / "adapter/adapter_model.safetensors").is_file() and (exp / "merged.pth").is_file()
    assert not any(".lora_" in k for k in read_weights(exp / "merged.pth"))

    waves = [ManifestDataset(recipe / "data/manifest", "test")[i]["speech"] for i in range(3)]
    outputs = {ckpt: Speech2Text(exp, checkpoint=ckpt)(waves) for ckpt in ("best", "merged.pth", "adapter")}
    assert outputs["best"] == outputs["merged.pth"] == outputs["adapter"]
    logits = {}
    for ckpt in ("best", "merged.pth"):
        s2t = Speech2Text(exp, checkpoint=ckpt)
        feats = s2t.pipeline.features(np.asarray(waves[0]))[None]
        with torch.no_grad():
            logits[ckpt] = s2t.model.ctc_logits(feats, torch.tensor([feats.shape[1]]))[0]
    assert torch.allclose(logits["best"], logits["merged.pth"], atol=1e-4)


def test_the_infer_stage_decodes_base_plus_adapter_and_pack_asks_for_the_merged_weights(pretrained):
    """``model.checkpoint: adapter`` (the README's base + adapter) through the stages, not only the API."""
    recipe, overrides = pretrained
    files = {**reuse_config(recipe, "training_lora"), "inference": recipe / "conf/inference.yaml",
             "publication": recipe / "conf/publication.yaml"}
    adapter = overrides + ["inference.model.checkpoint=adapter"]
    run_stages(recipe, ["train", "infer"], files, adapter)
    exp = recipe / "exp" / "training_lora_test"
    hyp = (exp / "inference/test/hyp.scp").read_text().splitlines()
    test = ManifestDataset(recipe / "data/manifest", "test")
    texts = Speech2Text(exp, checkpoint="adapter")([test[i]["speech"] for i in range(len(test))])
    assert [line.split(" ", 1)[1] if " " in line else "" for line in hyp] == [t["text"] for t in texts]
    with pytest.raises(ValueError, match="pack checkpoint: merged.pth"):
        run_stages(recipe, ["pack"], files, adapter)
