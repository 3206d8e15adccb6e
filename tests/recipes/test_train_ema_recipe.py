"""ema: in training.yaml writes exp_dir/ema.pth, which inference selects with checkpoint: ema.pth."""

import torch

from vocalis.data.manifest import ManifestDataset
from vocalis.infer.speech2text import Speech2Text
from vocalis.stages.runner import run_stages
from vocalis.train.weights_io import read_weights

TINY = ["model.num_layers=1", "model.d_model=32", "model.num_heads=2", "model.ffn_dim=64",
        "model.subsampling_channels=8", "trainer.max_epochs=1", "dataloader.batch_size=6"]


def test_ema_weights_are_written_summarised_and_decodable(recipes, tiny_corpus):
    recipe = recipes["digits"]
    overrides = tiny_corpus + TINY + ["exp_tag=ema", "ema={decay: 0.9}"]
    run_stages(recipe, ["train_tokenizer", "collect_stats", "train"], {"training": recipe / "conf/training.yaml"},
               overrides)
    exp = recipe / "exp/ema"
    ema, last = read_weights(exp / "ema.pth"), read_weights(exp / "last.pth")
    assert ema.keys() == last.keys()
    assert any(not torch.equal(ema[k], last[k]) for k in ema if ema[k].is_floating_point())
    assert "ema              ema.pth (decay 0.9, 4 updates)" in (exp / "summary.txt").read_text()
    s2t = Speech2Text(exp, checkpoint="ema.pth")
    assert s2t.checkpoint_path == exp / "ema.pth"
    assert all(torch.equal(v, ema[k]) for k, v in s2t.model.state_dict().items())
    waves = [ManifestDataset(recipe / "data/manifest", "test")[i]["speech"] for i in range(2)]
    assert len(s2t(waves)) == 2
