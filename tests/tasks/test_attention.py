"""MultiHeadAttention: the fused self-attention projection equals the separate one, LoRA-wrapped
projections still run, and under CPU autocast the attention kernel runs in float32."""

import torch

from vocalis.tasks.asr.attention import MultiHeadAttention, attend
from vocalis.train.lora import apply_lora


def test_self_attention_as_one_product_equals_three_separate_projections():
    torch.manual_seed(0)
    att = MultiHeadAttention(16, 4, 0.0).eval()
    x = torch.randn(3, 7, 16, requires_grad=True)
    mask = torch.ones(3, 1, 7, dtype=torch.bool)
    mask[1, :, 5:] = False
    fused = att(x, x, mask)  # query is key: one (16 -> 48) product
    separate = att(x, x.clone(), mask)  # another tensor: q from query, k/v from key
    torch.testing.assert_close(fused, separate, rtol=1e-5, atol=1e-6)
    g_fused = torch.autograd.grad(fused.sum(), [x, att.q.weight, att.k.weight, att.v.weight])
    g_sep = torch.autograd.grad(separate.sum(), [x, att.q.weight, att.k.weight, att.v.weight])
    for a, b in zip(g_fused, g_sep):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_lora_wrapped_projections_take_part_in_self_attention():
    torch.manual_seed(0)
    att = MultiHeadAttention(16, 4, 0.0).eval()
    x = torch.randn(2, 5, 16)
    before = att(x, x, None)
    apply_lora(att, {"r": 2, "target_modules": ["q", "v"]})
    torch.nn.init.normal_(att.v.lora_B.weight)  # a trained adapter on the values: no longer the identity
    after = att(x, x, None)
    assert not torch.allclose(after, before)
    torch.testing.assert_close(after, att(x, x.clone(), None), rtol=1e-5, atol=1e-6)  # as the separate path


def test_under_cpu_autocast_the_attention_kernel_runs_in_float32():
    """PyTorch's CPU kernel is 2-3x slower backward in bfloat16 than in float32."""
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 6, 8, dtype=torch.bfloat16) for _ in range(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = attend(q, k, v, None, 0.0)
    assert y.dtype == torch.float32
    want = torch.nn.functional.scaled_dot_product_attention(q.float(), k.float(), v.float())
    torch.testing.assert_close(y, want)


def test_relative_position_attention_with_padding_trains_under_bfloat16_autocast():
    """Its position bias and padding arrive as one bfloat16 additive mask, which the float32
    kernel needs in float32 (SDPA refuses a float32 query with a bfloat16 mask)."""
    from vocalis.tasks.asr.attention import RelPositionalEncoding, RelPositionMultiHeadAttention
    from vocalis.tasks.asr.frame_rows import FrameRows

    torch.manual_seed(0)
    att, pos_enc = RelPositionMultiHeadAttention(16, 4), RelPositionalEncoding(16, 0.0)
    x = torch.randn(2, 9, 16, requires_grad=True)
    pad = torch.zeros(2, 9, dtype=torch.bool)
    pad[1, 6:] = True
    rows = FrameRows(pad)

    def attend_rows():
        scaled, pos = pos_enc(x)
        return att(rows.pack(scaled), pos, rows)

    want = attend_rows()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = attend_rows()
    torch.testing.assert_close(got.float(), want, rtol=5e-2, atol=5e-2)
    (grad,) = torch.autograd.grad(got.float().sum(), [x])
    (ref,) = torch.autograd.grad(want.sum(), [x])
    torch.testing.assert_close(grad, ref, rtol=5e-2, atol=1e-1)
