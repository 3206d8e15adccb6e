"""Token-by-token decoder scoring (what beam search runs) against teacher forcing."""

import pytest
import torch

from vocalis.infer.int8 import quantize_int8
from vocalis.tasks.asr.decoder import TransformerDecoder

VOCAB, D, GROUP = 12, 32, 3


def make_decoder() -> TransformerDecoder:
    torch.manual_seed(0)
    return TransformerDecoder(VOCAB, D, attention_heads=2, linear_units=64, num_blocks=2).eval()


def teacher_forced(decoder, memory, lengths, ys) -> torch.Tensor:
    """Log-probabilities ``(N, L, V)`` of every prefix of ``ys (N, L)``, each hypothesis against
    its own copy of its utterance's encoder output."""
    return decoder(memory.repeat_interleave(GROUP, 0), lengths.repeat_interleave(GROUP, 0), ys).log_softmax(-1)


def incremental(decoder, memory, lengths, ys) -> torch.Tensor:
    scorer = decoder.incremental(memory, lengths, GROUP)
    return torch.stack([scorer.score(ys[:, i]) for i in range(ys.shape[1])], dim=1)


@torch.no_grad()
def test_scoring_one_token_at_a_time_equals_teacher_forcing_with_padded_frames():
    decoder = make_decoder()
    memory, lengths = torch.randn(2, 15, D), torch.tensor([15, 9])
    ys = torch.randint(1, VOCAB - 1, (2 * GROUP, 5))
    ys[:, 0] = VOCAB - 1  # <sos>
    full = teacher_forced(decoder, memory, lengths, ys)
    assert torch.allclose(incremental(decoder, memory, lengths, ys), full, atol=1e-5)
    # the padded frames of utterance 1 are masked: changing them changes nothing
    noisy = memory.clone()
    noisy[1, 9:] = 100.0
    assert torch.allclose(incremental(decoder, noisy, lengths, ys), full, atol=1e-5)


@torch.no_grad()
def test_reordering_continues_each_row_from_the_hypothesis_it_extends():
    """Beam search keeps some rows twice and drops others; later scores must be those of the
    kept prefixes, also after the cache outgrows its first 32 positions."""
    decoder = make_decoder()
    memory, lengths = torch.randn(2, 15, D), torch.tensor([12, 15])
    ys = torch.randint(1, VOCAB - 1, (2 * GROUP, 40))
    scorer = decoder.incremental(memory, lengths, GROUP)
    prefixes = ys[:, :0]
    generator = torch.Generator().manual_seed(3)
    for i in range(40):
        got = scorer.score(ys[:, i])
        prefixes = torch.cat([prefixes, ys[:, i:i + 1]], dim=1)
        if i in (0, 7, 33, 39):
            want = teacher_forced(decoder, memory, lengths, prefixes)[:, -1]
            assert torch.allclose(got, want, atol=1e-5), i
        # parents stay within their utterance, as in beam search
        parents = torch.cat([torch.randint(0, GROUP, (GROUP,), generator=generator) + u * GROUP for u in range(2)])
        scorer.reorder(parents)
        prefixes = prefixes[parents]


@torch.no_grad()
def test_int8_linear_layers_are_called_as_modules():
    """A dynamically quantized decoder (``model.dtype: int8``) has no float weights to fuse."""
    decoder = quantize_int8(make_decoder(), {})  # no conv front: only the Linear layers
    assert not any(type(m) is torch.nn.Linear for m in decoder.modules())
    memory, lengths = torch.randn(2, 15, D), torch.tensor([15, 9])
    ys = torch.randint(1, VOCAB - 1, (2 * GROUP, 4))
    got, want = incremental(decoder, memory, lengths, ys), teacher_forced(decoder, memory, lengths, ys)
    assert torch.allclose(got, want, atol=0.05)  # nats; each call quantizes its own activations
    assert (got.argmax(-1) == want.argmax(-1)).float().mean() > 0.9


def test_a_training_mode_decoder_is_refused():
    decoder = make_decoder().train()
    with pytest.raises(ValueError, match=r"decoder.eval\(\)"):
        decoder.incremental(torch.randn(1, 5, D), torch.tensor([5]), GROUP)
