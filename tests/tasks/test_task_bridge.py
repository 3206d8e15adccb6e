"""task: asr builds the same model as the direct config it writes (a user can eject)."""

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from vocalis.config.loading import load_config
from vocalis.config.propagation import resolve
from vocalis.config.schema import ConfigKeyError
from vocalis.data.augment.chain import build_augmentation
from vocalis.train.model_from_config import build_model
from vocalis.tasks.registry import resolve_task

TASK_CONFIG = """
tokenizer: {{vocab_size: 12}}
task: asr
encoder: {encoder}
encoder_conf: {{output_size: 32, attention_heads: 2, linear_units: 64, num_blocks: 1}}
decoder: {decoder}
decoder_conf: {{attention_heads: 2, linear_units: 64, num_blocks: 1}}
model_conf: {{ctc_weight: 0.3, lsm_weight: 0.1}}
frontend_conf: {{n_mels: 40}}
specaug: specaug
specaug_conf: {{num_freq_mask: 2, freq_mask_width_range: [0, 10]}}
"""


def task_config(tmp_path: Path, encoder: str = "conformer", decoder: str = "transformer", name: str = "training"):
    conf = tmp_path / "conf" / f"{name}.yaml"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(TASK_CONFIG.format(encoder=encoder, decoder=decoder))
    cfg = resolve(load_config(conf, "training", tmp_path), str(conf))
    tokens = Path(cfg.tokenizer.save_path) / "tokens.txt"
    tokens.parent.mkdir(parents=True, exist_ok=True)
    tokens.write_text("".join(f"{t}\n" for t in ["<blank>", "<unk>"] + [f"▁{c}" for c in "abcdefghi"] + ["<sos/eos>"]))
    return cfg


def test_the_vocabulary_size_comes_from_the_tokenizer_stage(tmp_path):
    """A word tokenizer that found fewer words than tokenizer.vocab_size: the model follows tokens.txt."""
    cfg = task_config(tmp_path)
    tokens = Path(cfg.tokenizer.save_path) / "tokens.txt"
    tokens.write_text("".join(f"{t}\n" for t in ["<blank>", "<unk>", "▁a", "▁b", "▁c", "<sos/eos>"]))
    direct = resolve_task(cfg)
    assert direct.model.vocab_size == 6 and direct.model.decoder.vocab_size == 6
    model = build_model(cfg)
    assert model.ctc_head.out_features == 6 and model.sos_eos_id == 5


@pytest.mark.parametrize("encoder", ["transformer", "conformer", "e_branchformer"])
def test_ejected_config_builds_an_identical_model(tmp_path, encoder):
    cfg = task_config(tmp_path, encoder)
    torch.manual_seed(0)
    from_task = build_model(cfg)
    direct = resolve_task(cfg)
    assert direct.task is None and direct.model._target_.endswith("HybridCTCAttentionModel")
    assert direct.frontend.n_mels == 40 and direct.model.encoder.input_size == 40
    assert direct.augment.specaug == {"_target_": "vocalis.data.augment.SpecAugment", "num_freq_mask": 2,
                                      "freq_mask_width_range": [0, 10]}
    assert build_augmentation(direct.augment).spec_augment.num_freq_mask == 2


    ejected = tmp_path / "conf" / "training_ejected.yaml"  # what a user copies out of exp_dir/config.yaml
    ejected.write_text(OmegaConf.to_yaml({k: direct[k] for k in ("tokenizer", "model", "frontend", "augment")}))
    from_file = build_model(resolve(load_config(ejected, "training", tmp_path), str(ejected)))
    shapes = lambda m: {k: tuple(v.shape) for k, v in m.state_dict().items()}  # noqa: E731
    assert shapes(from_task) == shapes(from_file)
    from_file.load_state_dict(from_task.state_dict(), strict=True)
    speech, lengths = torch.randn(1, 50, 40), torch.tensor([50])
    with torch.no_grad():
        assert torch.equal(from_task.eval().ctc_logits(speech, lengths)[0], from_file.eval().ctc_logits(speech, lengths)[0])


def test_ctc_only_when_there_is_no_decoder(tmp_path):
    cfg = task_config(tmp_path, decoder="none")
    with pytest.raises(Exception, match="ctc_weight=0.3 needs an attention decoder"):
        build_model(cfg)
    cfg.model_conf = {}
    model = build_model(cfg)
    assert model.decoder is None and model.ctc_weight == 1.0


def test_unknown_choices_list_the_valid_ones(tmp_path):
    with pytest.raises(ConfigKeyError, match="did you mean 'conformer'.*choices: transformer, conformer, e_branchformer"):
        build_model(task_config(tmp_path, encoder="confomer"))
    cfg = task_config(tmp_path)
    cfg.model_conf.ctc_wieght = 0.5
    with pytest.raises(ConfigKeyError, match="did you mean 'ctc_weight'"):
        resolve_task(cfg)
    cfg = task_config(tmp_path)
    cfg.task = "asrr"
    with pytest.raises(ConfigKeyError, match="did you mean 'asr'"):
        resolve_task(cfg)
