"""model.dtype: bfloat16 autocast runs the network's products in bfloat16 and decodes like float32."""

import pytest
import torch

from vocalis.data.collate import collate
from vocalis.data.manifest import ManifestDataset
from vocalis.infer.speech2text import Speech2Text
from vocalis.train.model_contract import frame_logits


@pytest.fixture(scope="module")
def waves(trained_digits):
    data = ManifestDataset(trained_digits.path / "data/manifest", "test")
    return [data[i]["speech"] for i in range(len(data))]


def linear_output_dtypes(s2t: Speech2Text, waves) -> set[torch.dtype]:
    seen = set()
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
             for m in s2t.model.modules() if isinstance(m, torch.nn.Linear)]
    s2t.transcribe(waves)
    for h in hooks:
        h.remove()
    return seen


def frame_log_probs(s2t: Speech2Text, waves) -> tuple[torch.Tensor, torch.Tensor]:
    """CTC log-probabilities ``(B, T, V)`` (float32) and lengths, computed in ``s2t``'s dtype."""
    batch = collate([{"speech": s2t.pipeline.features(w)} for w in waves])
    with torch.inference_mode(), torch.autocast("cpu", dtype=s2t.dtype, enabled=s2t.dtype != torch.float32):
        logits, lengths = frame_logits(s2t.model, batch)
    return logits.float().log_softmax(-1), lengths


def test_bfloat16_runs_linear_layers_in_bfloat16_and_keeps_the_confident_frames(trained_digits, waves):
    fp32 = Speech2Text(trained_digits.exp_dir)
    bf16 = Speech2Text(trained_digits.exp_dir, dtype="bfloat16")
    assert linear_output_dtypes(fp32, waves) == {torch.float32}
    assert linear_output_dtypes(bf16, waves) == {torch.bfloat16}
    assert next(bf16.model.parameters()).dtype == torch.float32  # weights are not converted
    (ref, lengths), (low, _) = frame_log_probs(fp32, waves), frame_log_probs(bf16, waves)
    valid = torch.arange(ref.shape[1])[None, :] < lengths[:, None]  # (B, T)
    assert (low - ref).abs()[valid].mean() < 0.01  # nats (0.002 seen); bfloat16 keeps 8 bits of mantissa
    # The 1-epoch test model is unsure of most frames (median top-2 margin 0.17 nats), so whole
    # transcripts can flip on rounding; frames whose float32 margin exceeds 0.05 nats must not.
    top2 = ref.topk(2, dim=-1).values
    confident = valid & (top2[..., 0] - top2[..., 1] > 0.05)
    assert confident.sum() > valid.sum() // 2
    assert torch.equal(low.argmax(-1)[confident], ref.argmax(-1)[confident])


def test_an_unknown_dtype_lists_the_choices(trained_digits):
    with pytest.raises(ValueError, match=r"model.dtype 'fp8' is not one of \['bfloat16', 'float16', 'float32', 'int8'\]"):
        Speech2Text(trained_digits.exp_dir, dtype="fp8")
