"""The task bridge reads ESPnet2's encoder_conf / decoder_conf keys: an ESPnet2 conformer block runs
unchanged, and keys asking for something Vocalis does not build name the key and what it builds."""

from pathlib import Path

import pytest
import torch

from vocalis.config.loading import load_config
from vocalis.config.propagation import resolve
from vocalis.config.schema import ConfigKeyError
from vocalis.tasks.asr.espnet_conf import translate_conf, translate_frontend_conf
from vocalis.tasks.registry import resolve_task
from vocalis.train.model_from_config import build_model

# encoder_conf / decoder_conf as ESPnet2's conformer recipes write them (egs2/*/asr1/conf/tuning)
ESPNET_BLOCKS = """
encoder_conf:
  output_size: 32
  attention_heads: 2
  linear_units: 64
  num_blocks: 2
  dropout_rate: 0.1
  positional_dropout_rate: 0.1
  attention_dropout_rate: 0.0
  input_layer: conv2d6
  normalize_before: true
  macaron_style: true
  rel_pos_type: latest
  pos_enc_layer_type: rel_pos
  selfattention_layer_type: rel_selfattn
  activation_type: swish
  use_cnn_module: true
  cnn_module_kernel: 15
decoder_conf:
  attention_heads: 2
  linear_units: 64
  num_blocks: 1
  dropout_rate: 0.1
  positional_dropout_rate: 0.1
  self_attention_dropout_rate: 0.0
  src_attention_dropout_rate: 0.0
"""
VOCALIS_BLOCKS = """
encoder_conf: {output_size: 32, attention_heads: 2, linear_units: 64, num_blocks: 2, dropout_rate: 0.1,
               attention_dropout_rate: 0.0, subsampling_factor: 6, cnn_module_kernel: 15}
decoder_conf: {attention_heads: 2, linear_units: 64, num_blocks: 1, dropout_rate: 0.1,
               self_attention_dropout_rate: 0.0, src_attention_dropout_rate: 0.0}
"""
HEAD = """
tokenizer: {vocab_size: 8}
task: asr
encoder: conformer
decoder: transformer
model_conf: {ctc_weight: 0.3}
"""


def bridged(tmp_path: Path, blocks: str, name: str) -> torch.nn.Module:
    conf = tmp_path / "conf" / f"{name}.yaml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(HEAD + blocks)
    cfg = resolve(load_config(conf, "training", tmp_path), str(conf))
    tokens = Path(cfg.tokenizer.save_path) / "tokens.txt"
    tokens.parent.mkdir(parents=True, exist_ok=True)
    tokens.write_text("".join(f"{t}\n" for t in ["<blank>", "<unk>"] + [f"▁{c}" for c in "abcde"] + ["<sos/eos>"]))
    assert resolve_task(cfg).model.encoder.subsampling_factor == 6
    torch.manual_seed(0)
    return build_model(cfg)


def test_an_espnet2_conformer_block_builds_the_model_of_vocalis_keys(tmp_path):
    espnet, vocalis = bridged(tmp_path, ESPNET_BLOCKS, "espnet"), bridged(tmp_path, VOCALIS_BLOCKS, "vocalis")
    assert {k: v.shape for k, v in espnet.state_dict().items()} == {k: v.shape for k, v in vocalis.state_dict().items()}
    assert all(torch.equal(a, b) for a, b in zip(espnet.state_dict().values(), vocalis.state_dict().values()))


@pytest.mark.parametrize("layer, factor", [("conv2d", 4), ("conv2d6", 6), ("conv2d8", 8)])
def test_input_layer_picks_the_subsampling(layer, factor):
    assert translate_conf("encoder_conf", "conformer", {"input_layer": layer}, None) == {"subsampling_factor": factor}


@pytest.mark.parametrize("conf, message", [
    ({"macaron_style": False}, r"encoder_conf.macaron_style: False is not built in: .* is macaron_style: True"),
    ({"rel_pos_type": "legacy"}, r"encoder_conf.rel_pos_type: 'legacy' .* rel_pos_type: 'latest'"),
    ({"input_layer": "vgg2l"}, r"encoder_conf.input_layer: 'vgg2l' is not built in; choices: conv2d, conv2d6"),
    ({"input_layer": "conv2d", "subsampling_factor": 6}, r"means subsampling_factor 4, but subsampling_factor is 6"),
    ({"positional_dropout_rate": 0.2, "dropout_rate": 0.1}, r"positional_dropout_rate: 0.2 differs from dropout_rate"),
    ({"num_block": 2}, r"encoder_conf.num_block: Vocalis' conformer has no such setting \(did you mean 'num_blocks'"),
])
def test_what_vocalis_does_not_build_names_the_key_and_what_it_builds(conf, message):
    accepted = {"num_blocks", "dropout_rate", "subsampling_factor", "output_size"}
    with pytest.raises(ConfigKeyError, match=message):
        translate_conf("encoder_conf", "conformer", conf, accepted)


def test_a_decoder_key_is_named_as_decoder_conf():
    with pytest.raises(ConfigKeyError, match=r"decoder_conf.concat_after: True .* decoder is concat_after: False"):
        translate_conf("decoder_conf", "transformer", {"concat_after": True}, None)


def test_espnet2_frontend_sizes_in_samples_become_the_fbank_frames():
    got = translate_frontend_conf({"fs": 16000, "n_fft": 512, "win_length": 400, "hop_length": 160, "n_mels": 80})
    assert got == {"sample_rate": 16000, "frame_length_ms": 25.0, "frame_shift_ms": 10.0, "n_mels": 80}
    assert translate_frontend_conf({"fs": 8000, "win_length": 200, "hop_length": 80}) == {
        "sample_rate": 8000, "frame_length_ms": 25.0, "frame_shift_ms": 10.0}
    with pytest.raises(ConfigKeyError, match=r"frontend_conf.n_fft: 1024 .* pads its 400-sample window to 512"):
        translate_frontend_conf({"n_fft": 1024, "win_length": 400})
