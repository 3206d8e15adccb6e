"""An experiment refuses a tokenizer or statistics file rewritten after it trained (by another config's
stages, which share them), in decoding and in training again, instead of giving wrong transcripts."""

import numpy as np
import pytest

from vocalis.data.pipeline_files import PipelineFilesChangedError
from vocalis.infer.speech2text import Speech2Text
from vocalis.stages.markers import DoneMarker
from vocalis.stages.runner import run_stages


def test_rewritten_pipeline_files_are_refused_by_decoding_and_by_training_again(recipes, tiny_corpus, tiny_model,
                                                                              tmp_path):
    recipe = recipes["digits"]
    own = [f"tokenizer.save_path={tmp_path}/tokenizer", f"stats_dir={tmp_path}/stats", "exp_tag=own_pipeline_files"]
    overrides = tiny_corpus + tiny_model + own
    stages, files = ["train_tokenizer", "collect_stats", "train"], {"training": recipe / "conf/training.yaml"}
    run_stages(recipe, stages, files, overrides)
    exp_dir = recipe / "exp" / "own_pipeline_files"
    recorded = DoneMarker(exp_dir, "train").info()["inputs"]
    assert set(recorded) == {"tokenizer model", "token list", "feature statistics"}
    Speech2Text(exp_dir)  # the files it trained with: fine

    stats = tmp_path / "stats" / "train" / "feats_stats.npz"
    original, arrays = stats.read_bytes(), dict(np.load(stats))
    np.savez(stats, **{k: v * 1.5 if v.dtype.kind == "f" else v for k, v in arrays.items()})  # another run's stats
    with pytest.raises(PipelineFilesChangedError, match=rf"decode with it: the feature statistics {stats} changed"):
        Speech2Text(exp_dir)
    with pytest.raises(PipelineFilesChangedError, match="count it as trained.*own tokenizer.save_path / stats_dir"):
        run_stages(recipe, ["train"], files, overrides)

    stats.write_bytes(original)  # restored: accepted again
    Speech2Text(exp_dir)
