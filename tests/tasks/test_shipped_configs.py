"""Every training config shipped in egs3/ loads, passes the key checks and builds its model."""

from pathlib import Path

import pytest
import torch

from vocalis.config.loading import load_config
from vocalis.config.propagation import resolve
from vocalis.recipe import activate_recipe
from vocalis.train.model_from_config import build_model

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / "egs3").glob("*/*/conf/training*.yaml") if "TEMPLATE" not in p.parts)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(REPO / "egs3")))
def test_shipped_training_config_builds_its_model(config, tmp_path):
    recipe = config.parents[1]
    cfg = load_config(config, "training", recipe)
    cfg.data_dir = str(tmp_path / "data")  # nothing is written into the repository
    cfg.exp_dir = str(tmp_path / "exp")
    resolve(cfg, str(config))
    tokens = Path(cfg.tokenizer.save_path) / "tokens.txt"
    tokens.parent.mkdir(parents=True, exist_ok=True)
    vocab = int(cfg.tokenizer.vocab_size)
    tokens.write_text("".join(f"{t}\n" for t in ["<blank>", "<unk>"] + [f"▁t{i}" for i in range(vocab - 3)]
                              + ["<sos/eos>"]))
    activate_recipe(recipe)
    model = build_model(cfg, with_peft=False)
    assert isinstance(model, torch.nn.Module) and sum(p.numel() for p in model.parameters()) > 0
