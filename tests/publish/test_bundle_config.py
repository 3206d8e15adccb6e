"""The bundle's config.yaml: paths under the experiment's tokenizer and statistics follow the bundle's copies."""

from vocalis.publish.pack import bundle_config


def test_an_ejected_models_spelled_out_token_list_follows_the_bundled_tokenizer():
    exp_config = {  # exp_dir/config.yaml of a model ejected into training.yaml: its paths are resolved
        "recipe_dir": "/r/egs3/digits/asr", "data_dir": "/r/egs3/digits/asr/data", "exp_dir": "/r/egs3/digits/asr/exp/e",
        "stats_dir": "/r/egs3/digits/asr/exp/stats",
        "tokenizer": {"save_path": "/r/egs3/digits/asr/data/tokenizer/word_14", "vocab_size": 14},
        "model": {"_target_": "m.Model", "token_list": "/r/egs3/digits/asr/data/tokenizer/word_14/tokens.txt",
                  "stats": "/r/egs3/digits/asr/exp/stats/train/feats_stats.npz",
                  "lexicon": "/r/egs3/digits/asr/local/lexicon.txt"},
    }
    cfg = bundle_config(exp_config)
    assert cfg["tokenizer"]["save_path"] == "tokenizer" and cfg["stats_dir"] == "stats"
    assert cfg["model"]["token_list"] == "${tokenizer.save_path}/tokens.txt"
    assert cfg["model"]["stats"] == "${stats_dir}/train/feats_stats.npz"
    assert cfg["model"]["lexicon"] == "./local/lexicon.txt"  # other recipe files stay recipe-relative
