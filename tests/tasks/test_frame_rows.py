"""Encoder blocks on the valid frames only (FrameRows) compute what they computed on the padded batch."""

import copy
import math

import pytest
import torch
from torch.nn import functional as F

from vocalis.tasks.asr.attention import RelPositionalEncoding, rel_shift
from vocalis.tasks.asr.conformer import ConformerBlock, ConformerEncoder
from vocalis.tasks.asr.e_branchformer import EBranchformerBlock
from vocalis.tasks.asr.frame_rows import FrameRows
from vocalis.tasks.asr.transformer_encoder import EncoderLayer, TransformerEncoder

LENGTHS = [11, 7, 4]


def pad_mask(lengths: list[int]) -> torch.Tensor:
    return torch.arange(max(lengths))[None, :] >= torch.tensor(lengths)[:, None]  # (B, T) True = pad


def test_pack_keeps_the_valid_frames_in_batch_order_and_unpack_zeroes_the_padding():
    mask = pad_mask(LENGTHS)
    rows = FrameRows(mask)
    x = torch.randn(3, 11, 5)
    packed = rows.pack(x)
    assert packed.shape == (22, 5) and rows.num_rows == 22
    assert torch.equal(packed, torch.cat([x[b, :n] for b, n in enumerate(LENGTHS)]))
    back = rows.unpack(packed)
    assert torch.equal(back[~mask], x[~mask]) and not back[mask].any()


def test_without_padding_pack_and_unpack_are_views():
    rows = FrameRows(pad_mask([6, 6]))
    x = torch.randn(2, 6, 4)
    packed = rows.pack(x)
    assert rows.index is None and packed.data_ptr() == x.data_ptr()
    assert rows.unpack(packed).data_ptr() == x.data_ptr()


# ------------------------------------------------- the padded computation the blocks used to run
def padded_attention(att, h, pos, mask):
    b, t, _ = h.shape
    q, k, v = att.qkv(h).view(b, t, 3, att.h, att.d_k).permute(2, 0, 3, 1, 4)
    p = att.pos_proj(pos).view(1, -1, att.h, att.d_k).transpose(1, 2)
    bias = rel_shift(torch.matmul(q + att.pos_bias_v[:, None], p.transpose(-2, -1))) / math.sqrt(att.d_k)
    bias = bias.masked_fill(mask[:, None, None, :], float("-inf"))
    y = F.scaled_dot_product_attention(q + att.pos_bias_u[:, None], k, v, attn_mask=bias)
    return att.out(y.transpose(1, 2).reshape(b, t, -1))


def padded_conformer_block(blk, x, pos, mask):
    x = x + 0.5 * blk.ff1(x)
    x = x + padded_attention(blk.att, blk.norm_att(x), pos, mask)
    c = blk.conv
    y = F.glu(c.pointwise_in(c.norm_in(x).transpose(1, 2)), dim=1).masked_fill(mask[:, None, :], 0.0)
    x = x + c.pointwise_out(F.silu(c.norm(c.depthwise(y)))).transpose(1, 2)
    x = x + 0.5 * blk.ff2(x)
    return blk.norm_out(x)


def padded_ebranchformer_block(blk, x, pos, mask):
    x = x + 0.5 * blk.ff1(x)
    m = blk.cgmlp
    content, gate = m.proj_in(blk.norm_mlp(x)).chunk(2, dim=-1)
    gate = m.gate_norm(gate).masked_fill(mask[..., None], 0.0)
    gate = m.gate_conv(gate.transpose(1, 2)).transpose(1, 2)
    both = torch.cat([padded_attention(blk.att, blk.norm_att(x), pos, mask), m.proj_out(content * gate)], -1)
    both = both.masked_fill(mask[..., None], 0.0)
    both = both + blk.merge_conv(both.transpose(1, 2)).transpose(1, 2)
    x = x + blk.merge_proj(both)
    x = x + 0.5 * blk.ff2(x)
    return blk.norm_out(x)


def padded_transformer_layer(layer, x, _pos, mask):
    h = layer.norm_att(x)
    x = x + layer.att(h, h, ~mask[:, None])
    return x + layer.ff(layer.norm_ff(x))


class TransformerLayerWithPos(EncoderLayer):
    """The absolute-position layer under the relative-position blocks' call signature."""

    def forward(self, x, _pos, rows):
        return super().forward(x, rows)


BLOCKS = {
    "conformer": (lambda: ConformerBlock(16, 4, 32, 5, 0.0, 0.0, "batch_norm"), padded_conformer_block),
    "e_branchformer": (lambda: EBranchformerBlock(16, 4, 32, 48, 5, 3, 0.0, 0.0), padded_ebranchformer_block),
    "transformer": (lambda: TransformerLayerWithPos(16, 4, 32, 0.0, 0.0), padded_transformer_layer),
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_a_block_on_the_valid_frames_matches_the_padded_block_in_training(name):
    """Training mode, so batch norm normalises with the batch's statistics: those still count the
    padded frames as the padded block did (zeros before the depthwise convolution), so its running
    statistics, the valid frames' outputs and every gradient agree."""
    build, padded_block = BLOCKS[name]
    torch.manual_seed(0)
    block = build().train()
    reference = copy.deepcopy(block)
    mask = pad_mask(LENGTHS)
    rows = FrameRows(mask)
    x = torch.randn(3, 11, 16, requires_grad=True)
    pos = RelPositionalEncoding(16, 0.0).table(11, x.device)
    weights = torch.randn(22, 16)

    got = rows.unpack(block(rows.pack(x), pos, rows))
    want = padded_block(reference, x, pos, mask)
    torch.testing.assert_close(got[~mask], want[~mask], rtol=1e-5, atol=1e-5)
    assert not got[mask].any()

    (grad_got,) = torch.autograd.grad((got[~mask] * weights).sum(), [x], retain_graph=True)
    (grad_want,) = torch.autograd.grad((want[~mask] * weights).sum(), [x], retain_graph=True)
    torch.testing.assert_close(grad_got, grad_want, rtol=1e-4, atol=1e-5)
    (got[~mask] * weights).sum().backward()
    (want[~mask] * weights).sum().backward()
    for (param_name, p), q in zip(block.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=lambda m: f"{param_name}: {m}")
    for b, r in zip(block.buffers(), reference.buffers()):
        torch.testing.assert_close(b, r)


@pytest.mark.parametrize("encoder_cls", [ConformerEncoder, TransformerEncoder])
def test_the_encoder_output_is_zero_at_the_padding(encoder_cls):
    torch.manual_seed(0)
    encoder = encoder_cls(20, 16, 4, 32, 2, dropout_rate=0.0, subsampling_factor=4).eval()
    feats, lengths = torch.randn(2, 40, 20), torch.tensor([40, 23])
    with torch.no_grad():
        enc, enc_lengths = encoder(feats, lengths)
    assert enc_lengths.tolist() == [9, 5]
    assert not enc[1, 5:].any() and enc[1, :5].abs().sum() > 0
