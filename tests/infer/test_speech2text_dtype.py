"""model.dtype: bfloat16 autocast runs the network's products in bfloat16 and decodes like float32."""

import pytest
import torch

from vocalis.data.manifest import ManifestDataset
from vocalis.infer.speech2text import Speech2Text


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


def test_bfloat16_runs_linear_layers_in_bfloat16_and_keeps_the_transcripts(trained_digits, waves):
    fp32 = Speech2Text(trained_digits.exp_dir)
    bf16 = Speech2Text(trained_digits.exp_dir, dtype="bfloat16")
    assert linear_output_dtypes(fp32, waves) == {torch.float32}
    assert linear_output_dtypes(bf16, waves) == {torch.bfloat16}
    assert next(bf16.model.parameters()).dtype == torch.float32  # weights are not converted
    same = sum(a["text"] == b["text"] for a, b in zip(fp32.transcribe(waves), bf16.transcribe(waves)))
    assert same >= len(waves) - 1


def test_an_unknown_dtype_lists_the_choices(trained_digits):
    with pytest.raises(ValueError, match=r"model.dtype 'fp8' is not one of \['bfloat16', 'float16', 'float32'\]"):
        Speech2Text(trained_digits.exp_dir, dtype="fp8")
