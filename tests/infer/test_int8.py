"""Int8 inference: a calibrated int8 copy that stays close to float32, and model.dtype: int8."""

import shutil

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from vocalis.data.collate import collate
from vocalis.data.manifest import ManifestDataset
from vocalis.infer.int8 import Int8ConvStack, quantize_int8, recording_front_ranges
from vocalis.infer.speech2text import Speech2Text
from vocalis.tasks.asr.decoder import TransformerDecoder
from vocalis.tasks.asr.hybrid_model import HybridCTCAttentionModel
from vocalis.tasks.asr.transformer_encoder import TransformerEncoder
from vocalis.train.model_contract import frame_logits


def make_model(factor: int = 4) -> HybridCTCAttentionModel:
    torch.manual_seed(0)
    enc = TransformerEncoder(40, 64, 4, 128, 2, 0.0, subsampling_factor=factor)
    return HybridCTCAttentionModel(12, enc, TransformerDecoder(12, 64, 4, 128, 1, 0.0, 0.0, 0.0)).eval()


def speech_like(batch: int, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth, mean-normalised "features" ``(B, T, 40)``: random walks, as fbank frames are."""
    g = torch.Generator().manual_seed(batch * 1000 + frames)
    x = torch.randn(batch, frames, 40, generator=g).cumsum(1) * 0.3
    return x - x.mean(1, keepdim=True), torch.full((batch,), frames)


def calibrated(model: nn.Module) -> nn.Module:
    with recording_front_ranges(model) as ranges, torch.inference_mode():
        for frames in (60, 90):
            model.ctc_logits(*speech_like(4, frames))
    assert all(r > 0 for r in ranges["encoder.subsampling"])  # one max per ReLU of the front
    return quantize_int8(model, ranges)


@pytest.mark.parametrize("factor", [4, 6, 8])
def test_int8_copy_follows_float32_and_leaves_the_model_alone(factor):
    model = make_model(factor)
    fast = calibrated(model)
    assert isinstance(model.encoder.subsampling.conv, nn.Sequential)  # the float model is untouched
    assert all(type(m) is nn.Linear for m in model.modules() if isinstance(m, nn.Linear))
    assert isinstance(fast.encoder.subsampling.conv, Int8ConvStack)
    assert not any(type(m) is nn.Linear for m in fast.modules())  # every Linear is int8 now
    feats, lens = speech_like(3, 75)
    with torch.inference_mode():
        ref, ref_lens = model.ctc_logits(feats, lens)
        low, low_lens = fast.ctc_logits(feats, lens)
        front_ref = model.encoder.subsampling(feats, lens)[0]
        front_low = fast.encoder.subsampling(feats, lens)[0]
    assert torch.equal(ref_lens, low_lens) and low.shape == ref.shape
    assert ((front_low - front_ref).norm() / front_ref.norm()) < 0.03  # 0.006-0.012 seen
    assert ((low - ref).norm() / ref.norm()) < 0.08  # 0.02-0.04 seen: int8 Linears add their rounding


def test_int8_front_without_calibration_names_the_fix():
    model = make_model()
    with recording_front_ranges(model) as ranges:
        pass  # nothing went through the front
    with pytest.raises(ValueError, match=r"encoder.subsampling.conv ReLU 0 is 0.0: no calibration forward"):
        quantize_int8(model, ranges)
    with pytest.raises(KeyError, match=r"no int8 ranges for conv front 'encoder.subsampling'"):
        quantize_int8(model, {})


def test_recording_hooks_are_removed_after_the_block():
    model = make_model()
    with recording_front_ranges(model) as ranges, torch.inference_mode():
        model.ctc_logits(*speech_like(2, 60))
    seen = list(ranges["encoder.subsampling"])
    with torch.inference_mode():
        model.ctc_logits(*speech_like(2, 60))
        model.ctc_logits(speech_like(2, 60)[0] * 10, torch.full((2,), 60))
    assert ranges["encoder.subsampling"] == seen


@pytest.fixture(scope="module")
def waves(trained_digits):
    data = ManifestDataset(trained_digits.path / "data/manifest", "test")
    return [data[i]["speech"] for i in range(len(data))]


def test_dtype_int8_decodes_the_confident_frames_like_float32(trained_digits, waves):
    fp32, int8 = Speech2Text(trained_digits.exp_dir), Speech2Text(trained_digits.exp_dir, dtype="int8")
    assert isinstance(int8.model.encoder.subsampling.conv, Int8ConvStack)
    assert isinstance(fp32.model.encoder.subsampling.conv, nn.Sequential)
    batch = collate([{"speech": fp32.pipeline.features(w)} for w in waves])
    with torch.inference_mode():
        (ref, lengths), (low, _) = frame_logits(fp32.model, batch), frame_logits(int8.model, batch)
    ref, low = ref.log_softmax(-1), low.log_softmax(-1)
    valid = torch.arange(ref.shape[1])[None, :] < lengths[:, None]  # (B, T)
    assert (low - ref).abs()[valid].mean() < 0.03  # nats (0.009 seen)
    # The 1-epoch test model is unsure of most frames, so whole transcripts can flip on
    # rounding; frames whose float32 top-2 margin exceeds 0.05 nats (80 % of them) must not.
    top2 = ref.topk(2, dim=-1).values
    confident = valid & (top2[..., 0] - top2[..., 1] > 0.05)
    assert confident.sum() > valid.sum() // 2
    assert torch.equal(low.argmax(-1)[confident], ref.argmax(-1)[confident])
    assert [r["text"] for r in int8.transcribe(waves[:4])] == [r["text"] for r in int8.transcribe(waves[:4])]


def test_dtype_int8_without_its_valid_data_says_what_to_do(trained_digits, tmp_path):
    exp = tmp_path / "exp"
    shutil.copytree(trained_digits.exp_dir, exp, ignore=shutil.ignore_patterns("tensorboard"))
    cfg = OmegaConf.load(exp / "config.yaml")
    cfg.dataset.valid[0].data_src_args.manifest_dir = str(tmp_path / "gone")
    (exp / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    with pytest.raises(RuntimeError, match=r"dataset.valid, which cannot be read here .*use dtype float32"):
        Speech2Text(exp, dtype="int8")
