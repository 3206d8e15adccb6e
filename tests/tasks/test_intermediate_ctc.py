"""Intermediate CTC: chosen encoder blocks feed the CTC loss through the same head (ESPnet2's
``encoder_conf.interctc_layer_idx`` and ``model_conf.interctc_weight``)."""

import pytest
import torch

from tests.tasks.test_task_bridge import task_config
from vocalis.train.model_from_config import build_model
from vocalis.tasks.asr.conformer import ConformerEncoder
from vocalis.tasks.asr.decoder import TransformerDecoder
from vocalis.tasks.asr.e_branchformer import EBranchformerEncoder
from vocalis.tasks.asr.hybrid_model import HybridCTCAttentionModel
from vocalis.tasks.asr.transformer_encoder import TransformerEncoder

VOCAB = 12
SMALL = dict(input_size=20, output_size=32, attention_heads=2, linear_units=64, num_blocks=3, dropout_rate=0.0)


def batch() -> dict:
    torch.manual_seed(1)
    return {"speech": torch.randn(2, 60, 20), "speech_lengths": torch.tensor([60, 45]),
            "text": torch.tensor([[2, 3, 4], [5, 6, -1]]), "text_lengths": torch.tensor([3, 2])}


def model_with(encoder_cls, layers, interctc_weight: float) -> HybridCTCAttentionModel:
    torch.manual_seed(0)
    encoder = encoder_cls(**SMALL, interctc_layer_idx=layers)
    decoder = TransformerDecoder(VOCAB, 32, attention_heads=2, linear_units=64, num_blocks=1)
    return HybridCTCAttentionModel(VOCAB, encoder, decoder, ctc_weight=0.3, interctc_weight=interctc_weight).eval()


@pytest.mark.parametrize("encoder_cls", [TransformerEncoder, ConformerEncoder, EBranchformerEncoder])
def test_intermediates_are_the_chosen_blocks_ctc_logits_and_the_output_is_unchanged(encoder_cls):
    torch.manual_seed(0)
    encoder = encoder_cls(**SMALL, interctc_layer_idx=[2, 1]).eval()
    head = torch.nn.Linear(32, VOCAB)
    b = batch()
    with torch.no_grad():
        enc, lengths, inter = encoder.forward_with_intermediates(b["speech"], b["speech_lengths"], head)
        plain, plain_lengths = encoder(b["speech"], b["speech_lengths"])
        blocks = list(getattr(encoder, "blocks", getattr(encoder, "layers", None)))
        del blocks[2:]  # the same encoder cut after block 2: its output is the block-2 intermediate
        if hasattr(encoder, "blocks"):
            encoder.blocks = torch.nn.ModuleList(blocks)
        else:
            encoder.layers = torch.nn.ModuleList(blocks)
        encoder.interctc_layer_idx = ()
        after_two = encoder(b["speech"], b["speech_lengths"])[0]
    assert encoder_cls(**SMALL, interctc_layer_idx=[2, 1]).interctc_layer_idx == (1, 2)
    assert len(inter) == 2 and all(logits.shape == (*enc.shape[:2], VOCAB) for logits in inter)
    assert torch.equal(enc, plain) and torch.equal(lengths, plain_lengths)
    valid = torch.arange(enc.shape[1])[None, :] < lengths[:, None]  # padded frames are never read
    assert torch.equal(inter[1][valid], head(after_two)[valid])
    with pytest.raises(ValueError, match="intermediate CTC needs the model's CTC head"):
        encoder_cls(**SMALL, interctc_layer_idx=[1]).forward_with_intermediates(b["speech"], b["speech_lengths"], None)


def test_the_ctc_term_mixes_final_and_intermediate_losses():
    model = model_with(ConformerEncoder, [1, 2], interctc_weight=0.4)
    with torch.no_grad():
        loss, stats, _ = model(**batch())
    inter = (stats["loss_interctc_layer1"] + stats["loss_interctc_layer2"]) / 2
    ctc = 0.6 * stats["loss_ctc"] + 0.4 * inter
    assert loss.item() == pytest.approx((0.3 * ctc + 0.7 * stats["loss_att"]).item(), rel=1e-5)
    assert stats["loss_interctc_layer1"].item() != pytest.approx(stats["loss_ctc"].item(), rel=1e-3)
    # layers chosen but weight 0: the loss is the plain hybrid loss, bit for bit
    plain = model_with(ConformerEncoder, None, 0.0)
    chosen_unweighted = model_with(ConformerEncoder, [1, 2], 0.0)
    with torch.no_grad():
        assert torch.equal(plain(**batch())[0], chosen_unweighted(**batch())[0])


def test_intermediate_ctc_trains_the_lower_blocks_more():
    """The block-1 output gets a gradient of its own: with the weight set, its CTC loss falls faster."""
    def block1_loss_after_steps(weight: float) -> float:
        model = model_with(ConformerEncoder, [1], weight).train()
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(15):
            loss = model(**batch())[0]
            opt.zero_grad()
            loss.backward()
            opt.step()
        probe = model_with(ConformerEncoder, [1], 0.5)
        probe.load_state_dict(model.state_dict())
        with torch.no_grad():
            return probe(**batch())[1]["loss_interctc_layer1"].item()

    assert block1_loss_after_steps(0.5) < 0.8 * block1_loss_after_steps(0.0)


def test_bad_settings_name_the_key_and_the_fix():
    with pytest.raises(ValueError, match=r"interctc_layer_idx: block\(s\) \[3\] out of range.*blocks 1..2"):
        ConformerEncoder(**SMALL, interctc_layer_idx=[3])
    with pytest.raises(ValueError, match="needs encoder blocks.*encoder_conf.interctc_layer_idx"):
        model_with(TransformerEncoder, None, 0.3)
    with pytest.raises(ValueError, match=r"interctc_weight must be in \[0, 1\)"):
        model_with(TransformerEncoder, [1], 1.0)


def test_the_task_bridge_passes_both_keys_through(tmp_path):
    cfg = task_config(tmp_path)
    cfg.encoder_conf.num_blocks = 2
    cfg.encoder_conf.interctc_layer_idx = [1]
    cfg.model_conf.interctc_weight = 0.3
    model = build_model(cfg)
    assert model.interctc_weight == 0.3 and model.encoder.interctc_layer_idx == (1,)


# ---------------------------------------------------------------- self-conditioned CTC
def conditioned_model(encoder_cls, layers=(1,)) -> HybridCTCAttentionModel:
    torch.manual_seed(0)
    encoder = encoder_cls(**SMALL, interctc_layer_idx=list(layers), interctc_use_conditioning=True)
    decoder = TransformerDecoder(VOCAB, 32, attention_heads=2, linear_units=64, num_blocks=1)
    model = HybridCTCAttentionModel(VOCAB, encoder, decoder, ctc_weight=0.3, interctc_weight=0.5).eval()
    with torch.no_grad():  # a fresh conditioning layer is small next to the block outputs: make its effect plain
        model.encoder.conditioning_layer.weight.mul_(20)
    return model


@pytest.mark.parametrize("encoder_cls", [TransformerEncoder, ConformerEncoder, EBranchformerEncoder])
def test_self_conditioning_adds_the_projected_ctc_posteriors_after_the_chosen_block(encoder_cls):
    model = conditioned_model(encoder_cls)
    encoder, b = model.encoder, batch()
    blocks = getattr(encoder, "blocks", getattr(encoder, "layers", None))
    block1_out, block2_in = [], []
    hooks = [blocks[0].register_forward_hook(lambda _m, _i, out: block1_out.append(out)),
             blocks[1].register_forward_pre_hook(lambda _m, args: block2_in.append(args[0]))]
    with torch.no_grad():
        enc, lengths = model.encode(b["speech"], b["speech_lengths"])
        for h in hooks:
            h.remove()
        valid = torch.arange(enc.shape[1])[None, :] < lengths[:, None]  # (B, T')
        x1 = block1_out[0]  # (N, D): a block reads and returns the valid frames
        logits1 = model.ctc_head(encoder._intermediate_output(x1))  # (N, V), before the feedback is added
        feedback = encoder.conditioning_layer(logits1.softmax(-1))
        enc_with, _, inter = encoder.forward_with_intermediates(b["speech"], b["speech_lengths"], model.ctc_head)
        encoder.interctc_use_conditioning = False
        unconditioned, _ = encoder(b["speech"], b["speech_lengths"])
    assert torch.equal(enc_with, enc) and len(inter) == 1 and torch.equal(inter[0][valid], logits1)
    assert feedback.abs().mean() > 0.1 * x1.abs().mean()
    assert torch.allclose(block2_in[0], x1 + feedback, atol=1e-6)
    assert not torch.allclose(enc, unconditioned, atol=1e-3)  # decoding (encode) sees the conditioned encoder
    assert torch.equal(lengths, encoder.subsampling.output_lengths(b["speech_lengths"]))


def test_training_runs_the_ctc_head_once_per_conditioned_block_and_once_on_the_output():
    """The conditioned block's logits feed both the next block and its intermediate CTC loss."""
    model = conditioned_model(ConformerEncoder, layers=(1, 2)).train()
    calls = []
    model.ctc_head.register_forward_hook(lambda _m, inputs, _out: calls.append(inputs[0].shape))
    model(**batch())
    assert len(calls) == 3


def test_an_encoder_returning_encodings_as_intermediates_is_refused():
    """forward_with_intermediates returns CTC logits; an encoder that returns its block outputs
    (B, T', D) would otherwise be scored as if they were logits."""
    model = model_with(ConformerEncoder, [1], interctc_weight=0.3)
    plain = model.encoder.forward_with_intermediates

    def encodings_instead(x, lengths, ctc_head):
        enc, enc_lengths, _ = plain(x, lengths, ctc_head)
        return enc, enc_lengths, [enc]

    model.encoder.forward_with_intermediates = encodings_instead
    with pytest.raises(ValueError, match=r"intermediates of shape \(2, \d+, 32\).*CTC logits \(B, T', 12\)"):
        model(**batch())


def test_self_conditioning_trains_the_conditioning_layer_and_int8_decodes_it():
    from vocalis.infer.int8 import quantize_int8, recording_front_ranges

    model = conditioned_model(ConformerEncoder).train()
    loss, stats, _ = model(**batch())
    loss.backward()
    assert "loss_interctc_layer1" in stats
    assert model.encoder.conditioning_layer.weight.grad.abs().sum() > 0
    model.eval()
    b = batch()
    with torch.no_grad():
        with recording_front_ranges(model) as ranges:
            logits, _ = model.ctc_logits(b["speech"], b["speech_lengths"])
        fast = quantize_int8(model, ranges)  # swaps model.ctc_head: the encoder must get the swapped one
        fast_logits, _ = fast.ctc_logits(b["speech"], b["speech_lengths"])
    assert type(fast.ctc_head) is not torch.nn.Linear
    assert (fast_logits.argmax(-1) == logits.argmax(-1)).float().mean() > 0.9


def test_self_conditioning_errors_name_the_key_and_the_fix():
    with pytest.raises(ValueError, match="interctc_use_conditioning: true needs blocks.*interctc_layer_idx"):
        ConformerEncoder(**SMALL, interctc_use_conditioning=True)
    encoder = TransformerEncoder(**SMALL, interctc_layer_idx=[1], interctc_use_conditioning=True)
    with pytest.raises(ValueError, match="model_conf.interctc_weight is 0.*interctc_weight > 0"):
        HybridCTCAttentionModel(VOCAB, encoder, None, ctc_weight=1.0, interctc_weight=0.0)
    b = batch()
    with pytest.raises(RuntimeError, match="no conditioning_layer.*HybridCTCAttentionModel"):
        encoder(b["speech"], b["speech_lengths"])
    model = HybridCTCAttentionModel(VOCAB, encoder, None, ctc_weight=1.0, interctc_weight=0.3)
    with pytest.raises(ValueError, match="call it with ctc_head="):
        model.encoder(b["speech"], b["speech_lengths"])


def test_the_task_bridge_builds_and_ejects_a_self_conditioned_model(tmp_path):
    from omegaconf import OmegaConf

    from vocalis.config.loading import load_config
    from vocalis.config.propagation import resolve
    from vocalis.tasks.registry import resolve_task

    cfg = task_config(tmp_path)
    cfg.encoder_conf.num_blocks = 2
    cfg.encoder_conf.interctc_layer_idx = [1]
    cfg.encoder_conf.interctc_use_conditioning = True
    cfg.model_conf.interctc_weight = 0.5
    torch.manual_seed(0)
    model = build_model(cfg)
    assert model.self_conditioned and model.encoder.conditioning_layer.weight.shape == (32, 12)
    direct = resolve_task(cfg)
    assert direct.model.encoder.interctc_use_conditioning is True
    ejected = tmp_path / "conf" / "training_ejected.yaml"
    ejected.write_text(OmegaConf.to_yaml({k: direct[k] for k in ("tokenizer", "model", "frontend", "augment")}))
    from_file = build_model(resolve(load_config(ejected, "training", tmp_path), str(ejected)))
    assert list(from_file.state_dict()) == list(model.state_dict())
    from_file.load_state_dict(model.state_dict(), strict=True)
    speech, lengths = torch.randn(1, 50, 40), torch.tensor([50])
    with torch.no_grad():
        assert torch.equal(model.eval().ctc_logits(speech, lengths)[0], from_file.eval().ctc_logits(speech, lengths)[0])
