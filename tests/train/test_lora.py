"""LoRA: only adapters train, merged weights reproduce base+adapter, PEFT file layout."""

import json

import pytest
import torch
from torch import nn

from vocalis.train.lora import LoRALinear, adapter_state_dict, apply_lora, load_adapter, merge_lora, save_adapter

PEFT = {"method": "lora", "r": 4, "alpha": 8, "target_modules": ["encoder.*"]}


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.ModuleDict({"encoder": nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16)),
                          "head": nn.Linear(16, 4)})


def forward(model, x):
    return model["head"](model["encoder"](x))


def test_only_adapters_change_and_merge_reproduces_outputs(tmp_path):
    model = net()
    base = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(32, 8)
    before = forward(model, x)
    wrapped = apply_lora(model, PEFT)
    assert wrapped == ["encoder.0", "encoder.2"]
    assert torch.allclose(forward(model, x), before)  # B starts at zero
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in n for n in trainable)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        forward(model, x).pow(2).mean().backward()
        opt.step()
    state = model.state_dict()
    for name, value in base.items():  # base weights live under <module>.base. once wrapped
        wrapped_name = name.replace("encoder.0.", "encoder.0.base.").replace("encoder.2.", "encoder.2.base.")
        assert torch.equal(state[wrapped_name], value), name
    assert not torch.equal(state["encoder.0.lora_B.weight"], torch.zeros_like(state["encoder.0.lora_B.weight"]))

    adapted = forward(model, x)
    save_adapter(model, PEFT, tmp_path / "adapter")
    config = json.loads((tmp_path / "adapter/adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4 and config["lora_alpha"] == 8
    assert set(adapter_state_dict(model)) == {f"base_model.model.encoder.{i}.lora_{m}.weight" for i in (0, 2) for m in "AB"}

    merged = merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in merged.modules())
    assert set(merged.state_dict()) == set(base)
    assert torch.allclose(forward(merged, x), adapted, atol=1e-5)

    fresh = net()
    apply_lora(fresh, PEFT)
    load_adapter(fresh, tmp_path / "adapter")
    assert torch.allclose(forward(fresh, x), adapted, atol=1e-5)


def test_bad_peft_configs_say_what_to_fix():
    with pytest.raises(ValueError, match="match no nn.Linear; Linear modules are e.g. \\['encoder.0'"):
        apply_lora(net(), {**PEFT, "target_modules": ["decoder.*"]})
    with pytest.raises(KeyError, match="unknown keys \\['rank'\\]"):
        apply_lora(net(), {**PEFT, "rank": 4})
