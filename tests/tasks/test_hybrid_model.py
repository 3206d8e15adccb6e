"""Hybrid CTC/attention model: loss weighting, label smoothing."""

import math

import pytest
import torch

from vocalis.tasks.asr.conformer import ConformerEncoder
from vocalis.tasks.asr.decoder import TransformerDecoder
from vocalis.tasks.asr.hybrid_model import HybridCTCAttentionModel
from vocalis.tasks.asr.label_smoothing import LabelSmoothingLoss

VOCAB = 12
TOKENS = ["<blank>", "<unk>"] + [f"▁{c}" for c in "abcdefghi"] + ["<sos/eos>"]


def make_model(ctc_weight: float, length_normalized_loss: bool = False) -> HybridCTCAttentionModel:
    """A tiny conformer model; CTC-only (``ctc_weight`` 1) gets no decoder."""
    torch.manual_seed(0)
    encoder = ConformerEncoder(input_size=20, output_size=32, attention_heads=2, linear_units=64, num_blocks=1)
    decoder = TransformerDecoder(VOCAB, 32, attention_heads=2, linear_units=64, num_blocks=1)
    return HybridCTCAttentionModel(VOCAB, encoder, decoder if ctc_weight < 1 else None, ctc_weight=ctc_weight,
                                   lsm_weight=0.1, length_normalized_loss=length_normalized_loss, token_list=TOKENS)


def batch() -> dict:
    torch.manual_seed(1)
    return {"speech": torch.randn(2, 60, 20), "speech_lengths": torch.tensor([60, 45]),
            "text": torch.tensor([[2, 3, 4], [5, 6, -1]]), "text_lengths": torch.tensor([3, 2])}


def test_loss_is_the_weighted_sum_and_stats_are_reported():
    model = make_model(0.3).eval()
    with torch.no_grad():
        loss, stats, weight = model(**batch())
    assert weight == 2
    assert loss.item() == pytest.approx(0.3 * stats["loss_ctc"].item() + 0.7 * stats["loss_att"].item(), rel=1e-5)
    assert 0.0 <= stats["acc"] <= 1.0
    assert {"cer", "wer", "cer_ctc"} <= set(stats)
    ctc_only = make_model(1.0).eval()
    with torch.no_grad():
        loss_ctc, stats_ctc, _ = ctc_only(**batch())
    assert "loss_att" not in stats_ctc and loss_ctc.item() == pytest.approx(stats_ctc["loss_ctc"].item())


def test_label_smoothing_is_kl_to_the_smoothed_target():
    logits = torch.randn(2, 3, VOCAB)
    target = torch.tensor([[1, 2, -1], [3, 4, 5]])
    got = LabelSmoothingLoss(VOCAB, 0.1)(logits, target)
    expected = 0.0
    for b in range(2):
        for t in range(3):
            if target[b, t] < 0:
                continue
            q = torch.full((VOCAB,), 0.1 / (VOCAB - 1))
            q[target[b, t]] = 0.9
            expected += float((q * (q.log() - logits[b, t].log_softmax(-1))).sum())
    assert got.item() == pytest.approx(expected / 2, rel=1e-5)
    assert LabelSmoothingLoss(VOCAB, 0.0)(logits, target).item() == pytest.approx(
        torch.nn.functional.cross_entropy(logits.view(-1, VOCAB), target.view(-1), ignore_index=-1,
                                          reduction="sum").item() / 2, rel=1e-5)


def test_decoder_is_required_unless_ctc_only():
    encoder = ConformerEncoder(input_size=20, output_size=32, attention_heads=2, linear_units=64, num_blocks=1)
    with pytest.raises(ValueError, match="needs an attention decoder"):
        HybridCTCAttentionModel(VOCAB, encoder, None, ctc_weight=0.3)
    assert math.isclose(HybridCTCAttentionModel(VOCAB, encoder, None, ctc_weight=1.0).ctc_weight, 1.0)


def test_a_ctc_only_weight_with_a_decoder_is_refused():
    encoder = ConformerEncoder(input_size=20, output_size=32, attention_heads=2, linear_units=64, num_blocks=1)
    decoder = TransformerDecoder(VOCAB, 32, attention_heads=2, linear_units=64, num_blocks=1)
    with pytest.raises(ValueError, match="never trains the attention decoder.*decoder: none"):
        HybridCTCAttentionModel(VOCAB, encoder, decoder, ctc_weight=1.0)


def test_an_attention_only_model_has_no_ctc_head_and_every_parameter_trains():
    """As ESPnet2 (``ctc`` None at ctc_weight 0): no parameter is left without a gradient, which
    DDP would stall on, and decoding with CTC is refused with the fix."""
    model = make_model(0.0).train()
    assert model.ctc_head is None and not any(n.startswith("ctc_head") for n, _ in model.named_parameters())
    loss, stats, _ = model(**batch())
    loss.backward()
    assert "loss_ctc" not in stats and loss.item() == pytest.approx(stats["loss_att"].item())
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    with pytest.raises(ValueError, match=r"ctc_weight: 0.*\{method: beam, ctc_weight: 0\}"):
        model.ctc_logits(batch()["speech"], batch()["speech_lengths"])


def test_length_normalized_loss_divides_the_attention_loss_by_tokens_and_leaves_ctc_per_utterance():
    """ESPnet2's meaning: only the label-smoothing loss takes ``normalize_length``."""
    stats = {}
    for normalized in (False, True):
        with torch.no_grad():
            stats[normalized] = make_model(0.3, length_normalized_loss=normalized).eval()(**batch())[1]
    tokens = 3 + 2 + 2  # the two texts and an <eos> each
    assert stats[True]["loss_ctc"].item() == pytest.approx(stats[False]["loss_ctc"].item(), rel=1e-6)
    assert stats[True]["loss_att"].item() == pytest.approx(stats[False]["loss_att"].item() * 2 / tokens, rel=1e-5)


def test_a_token_list_of_another_size_than_the_vocabulary_names_the_fix(tmp_path):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("".join(f"{t}\n" for t in TOKENS[:8]))  # a word tokenizer that found fewer words
    encoder = ConformerEncoder(input_size=20, output_size=32, attention_heads=2, linear_units=64, num_blocks=1)
    with pytest.raises(ValueError, match=f"{tokens}.* has 8 tokens but vocab_size is 12: set tokenizer.vocab_size: 8"):
        HybridCTCAttentionModel(VOCAB, encoder, None, ctc_weight=1.0, token_list=str(tokens))
