"""_target_ nodes: misspelt constructor arguments are named with a suggestion."""

import pytest
import torch

from vocalis.config.instantiate import instantiate
from vocalis.config.schema import ConfigKeyError


def test_builds_the_target():
    layer = instantiate({"_target_": "torch.nn.Linear", "in_features": 2, "out_features": 3}, "model")
    assert isinstance(layer, torch.nn.Linear) and layer.out_features == 3


def test_misspelt_argument_is_named_with_suggestion():
    with pytest.raises(ConfigKeyError, match=r"model.out_feature: torch.nn.Linear has no argument 'out_feature' \(did you mean 'out_features'\?\)"):
        instantiate({"_target_": "torch.nn.Linear", "in_features": 2, "out_feature": 3}, "model")


def test_missing_recipe_module_explains_where_it_is_looked_for():
    with pytest.raises(ImportError, match="src/nonexistent_mod.py exists"):
        instantiate({"_target_": "src.nonexistent_mod.Model"}, "model")
