"""Encoders: output shapes per subsampling factor, and batch-independent outputs."""

import pytest
import torch

from vocalis.tasks.asr.attention import rel_shift
from vocalis.tasks.asr.conformer import ConformerEncoder
from vocalis.tasks.asr.e_branchformer import EBranchformerEncoder
from vocalis.tasks.asr.subsampling import Conv2dSubsampling
from vocalis.tasks.asr.transformer_encoder import TransformerEncoder

SMALL = {"output_size": 32, "attention_heads": 2, "linear_units": 64, "num_blocks": 2}
ENCODERS = [TransformerEncoder, ConformerEncoder, EBranchformerEncoder]


def test_rel_shift_maps_distances_to_key_positions():
    t = 5
    scores = torch.arange(2 * t - 1, dtype=torch.float32).expand(1, 1, t, 2 * t - 1)  # value = distance column
    expected = torch.tensor([[t - 1 - i + j for j in range(t)] for i in range(t)], dtype=torch.float32)
    assert torch.equal(rel_shift(scores)[0, 0], expected)


@pytest.mark.parametrize("factor,expected", [(4, [24, 11]), (6, [15, 7]), (8, [11, 5])])
def test_subsampling_factor_sets_output_length(factor, expected):
    sub = Conv2dSubsampling(80, 32, factor=factor)
    y, lengths = sub(torch.randn(2, 100, 80), torch.tensor([100, 50]))
    assert lengths.tolist() == expected and y.shape == (2, expected[0], 32)
    assert sub.output_lengths(torch.tensor([100])).item() == expected[0]


@pytest.mark.parametrize("factor", [4, 6, 8])
def test_an_utterance_too_short_to_subsample_gives_one_frame_alone_as_in_a_batch(factor):
    """Alone it is zero-padded to ``min_input_frames``, as a batch's padding already pads it."""
    torch.manual_seed(0)
    sub = Conv2dSubsampling(80, 32, factor=factor).eval()
    short = sub.min_input_frames - 4
    x = torch.zeros(2, 40, 80)
    x[0, :short] = torch.randn(short, 80)
    x[1] = torch.randn(40, 80)
    with torch.no_grad():
        batched, batched_lengths = sub(x, torch.tensor([short, 40]))
        alone, alone_lengths = sub(x[:1, :short], torch.tensor([short]))
    assert alone_lengths.tolist() == [1] and batched_lengths[0].item() == 1 and alone.shape[1] == 1
    assert torch.allclose(alone[0, 0], batched[0, 0], atol=1e-6)


def test_the_cpu_front_in_chunks_gives_the_batch_outputs_and_gradients(monkeypatch):
    torch.manual_seed(0)
    sub = Conv2dSubsampling(80, 32, channels=16)
    x, lengths = torch.randn(5, 60, 80), torch.tensor([60, 51, 44, 60, 30])
    valid = torch.arange(14)[None, :] < sub.output_lengths(lengths)[:, None]  # (B, T') of 60 -> 14 frames

    def run():
        sub.zero_grad()
        y, out_lengths = sub(x, lengths)
        weights = torch.linspace(0, 1, y.numel()).view_as(y) * valid[..., None]  # a loss on valid frames
        (y * weights).sum().backward()
        return y.detach(), out_lengths, [p.grad.clone() for p in sub.parameters()]

    whole = run()
    per_utterance = 16 * 29 * 39 * 4  # first-conv output bytes of one 60-frame utterance
    monkeypatch.setattr("vocalis.tasks.asr.subsampling.CHUNK_BYTES", 2 * per_utterance)
    assert sub.utterances_per_chunk(x) == 2
    chunked = run()
    assert torch.equal(whole[1], chunked[1])
    assert torch.allclose(whole[0][valid], chunked[0][valid], atol=1e-6)
    shortest = int(chunked[1][4])  # 30 frames, its own chunk (lengths sorted: 60 60 | 51 44 | 30)
    assert torch.equal(chunked[0][4, shortest:], torch.zeros_like(chunked[0][4, shortest:]))  # not computed
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(whole[2], chunked[2]))


@pytest.mark.parametrize("encoder_cls", ENCODERS)
def test_an_utterance_encodes_the_same_alone_or_padded_in_a_batch(encoder_cls):
    torch.manual_seed(0)
    encoder = encoder_cls(input_size=80, **SMALL).eval()
    x, lengths = torch.randn(3, 120, 80), torch.tensor([120, 77, 40])
    with torch.no_grad():
        batch, out_lengths = encoder(x, lengths)
        for i in range(3):
            alone, _ = encoder(x[i:i + 1, : lengths[i]], lengths[i:i + 1])
            assert torch.allclose(batch[i, : out_lengths[i]], alone[0], atol=1e-5)
    assert batch.shape[-1] == encoder.output_size == 32
