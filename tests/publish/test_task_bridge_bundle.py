"""A task-bridge model (conformer + decoder, beam search) packs, moves and decodes like its experiment."""

import json
import shutil

import pytest
import torch

from vocalis.data.manifest import ManifestDataset
from vocalis.infer.scp import read_scp
from vocalis.infer.speech2text import Speech2Text
from vocalis.publish import InferenceModel
from vocalis.stages.runner import run_stages

BUNDLE_RUN = ["exp_tag=conformer_bundle", "inference.model.decode.beam_size=3"]


def test_conformer_bundle_moves_and_decodes_like_the_experiment(recipes, tiny_corpus, tiny_conformer, tmp_path):
    recipe = recipes["digits"]
    conf = recipe / "conf"
    files = {"training": conf / "training_conformer.yaml", "inference": conf / "inference_conformer.yaml",
             "metrics": conf / "metrics.yaml", "publication": conf / "publication.yaml"}
    stages = ["train_tokenizer", "collect_stats", "train", "infer", "pack"]
    bundle = run_stages(recipe, stages, files, tiny_corpus + tiny_conformer + BUNDLE_RUN)["pack"]
    assert "token_list: ${tokenizer.save_path}/tokens.txt" in (bundle / "config.yaml").read_text()

    moved = tmp_path / "elsewhere" / "bundle"
    shutil.copytree(bundle, moved)
    model = InferenceModel.from_packed(moved)
    assert model.speech2text.model.token_list == (moved / "tokenizer/tokens.txt").read_text().split("\n")[:-1]
    hyp = read_scp(recipe / "exp/conformer_bundle/inference_conformer/test/hyp.scp")
    test = ManifestDataset(recipe / "data/manifest", "test")
    # the infer stage decoded the test set as one padded batch: so does the bundle here (an utterance
    # alone may differ in the last bits of the encoder, enough to flip this tiny model's near-ties)
    speeches = [test[i]["speech"] for i in range(len(test))]
    assert [out["text"] for out in model(speeches, 16000)] == list(hyp.values())
    assert model(speeches[0], 16000)["text"] == model(speeches[:1], 16000)[0]["text"]  # one input, one dict


def test_an_attention_only_model_trains_packs_and_decodes_in_int8_without_a_ctc_head(recipes, tiny_corpus,
                                                                                   tiny_conformer):
    """``model_conf.ctc_weight: 0`` builds no CTC head (as ESPnet2); beam search with ``ctc_weight: 0``
    decodes it, pack records its int8 ranges through the encoder, and CTC decoding is refused."""
    recipe = recipes["digits"]
    conf = recipe / "conf"
    files = {"training": conf / "training_conformer.yaml", "inference": conf / "inference_conformer.yaml",
             "metrics": conf / "metrics.yaml", "publication": conf / "publication.yaml"}
    overrides = ["exp_tag=attention_only", "model_conf.ctc_weight=0", "inference.model.decode.ctc_weight=0",
                 "inference.model.decode.beam_size=3"]
    stages = ["train_tokenizer", "collect_stats", "train", "infer", "pack"]
    bundle = run_stages(recipe, stages, files, tiny_corpus + tiny_conformer + overrides)["pack"]
    hyp = read_scp(recipe / "exp/attention_only/inference_conformer/test/hyp.scp")
    test = ManifestDataset(recipe / "data/manifest", "test")
    speeches = [test[i]["speech"] for i in range(len(test))]
    model = InferenceModel.from_packed(bundle)
    assert model.speech2text.model.ctc_head is None
    assert [out["text"] for out in model(speeches, 16000)] == list(hyp.values())  # as the infer stage decoded
    int8 = InferenceModel.from_packed(bundle, dtype="int8")
    ranges = json.loads((bundle / "int8_ranges.json").read_text())
    assert ranges  # the conv front's ranges, recorded through the encoder (there is no CTC head to run)
    assert any(isinstance(m, torch.ao.nn.quantized.dynamic.Linear) for m in int8.speech2text.model.modules())
    experiment = Speech2Text(recipe / "exp/attention_only", decode={"method": "beam", "beam_size": 3, "ctc_weight": 0},
                             dtype="int8", int8_ranges=ranges)
    assert [out["text"] for out in int8(speeches, 16000)] == [out["text"] for out in experiment(speeches)]
    with pytest.raises(ValueError, match="attention-only"):
        InferenceModel.from_packed(bundle, decode="ctc_greedy")
