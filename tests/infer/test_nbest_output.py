"""``decode.nbest: N`` writes every rank as its own scp file, scoreable like ``hyp``."""

import json

import pytest

from vocalis.decode.beam_search import Hypothesis
from vocalis.infer.output import asr_output
from vocalis.infer.scp import read_scp
from vocalis.infer.speech2text import nbest_lists
from vocalis.stages.runner import run_stages

NBEST_RUN = ["exp_tag=nbest_output", "inference.model.decode.beam_size=4", "inference.model.decode.nbest=3",
             # this one-epoch model finishes few hypotheses on its own; at the length cap every
             # running one is finished as it is, so each utterance has all three ranks
             "inference.model.decode.maxlenratio=0.2"]
RANK_METRICS = """metrics:
  - _target_: vocalis.metrics.wer.WER
  - _target_: vocalis.metrics.wer.WER
    hyp_key: hyp_2best
{name}"""


def test_infer_writes_each_rank_of_the_nbest_lists(recipes, tiny_corpus, tiny_conformer):
    recipe = recipes["digits"]
    conf = recipe / "conf"
    files = {"training": conf / "training_conformer.yaml", "inference": conf / "inference_conformer.yaml",
             "metrics": conf / "metrics_ranks.yaml"}
    files["metrics"].write_text(RANK_METRICS.format(name="    name: WER_2best"))
    results = run_stages(recipe, ["train_tokenizer", "collect_stats", "train", "infer", "measure"], files,
                         tiny_corpus + tiny_conformer + NBEST_RUN)["measure"]
    folder = recipe / "exp/nbest_output/inference_conformer/test"
    hyp, score = read_scp(folder / "hyp.scp"), read_scp(folder / "score.scp")
    ranks = [read_scp(folder / f"hyp_{k}best.scp") for k in (1, 2, 3)]
    scores = [{u: float(v) for u, v in read_scp(folder / f"score_{k}best.scp").items()} for k in (1, 2, 3)]
    assert not (folder / "hyp_4best.scp").exists()
    assert ranks[0] == hyp and {u: float(v) for u, v in score.items()} == scores[0]
    assert list(ranks[0]) == list(ranks[1]) == list(ranks[2])  # every id in every rank, in dataset order
    for u in hyp:
        assert float("-inf") < scores[2][u] <= scores[1][u] <= scores[0][u]  # best first
        assert len({r[u] for r in ranks}) == 3  # three different hypotheses

    # a named second WER metric scores rank 2 beside the 1-best, each with its own alignment file
    assert results["WER"]["test"]["Snt"] == results["WER_2best"]["test"]["Snt"] == len(hyp)
    assert set(json.loads((folder.parent / "metrics.json").read_text())) >= {"WER", "WER_2best"}
    assert (folder / "wer_alignment.txt").is_file() and (folder / "wer_2best_alignment.txt").is_file()
    # two metrics under one name would overwrite each other: refused, naming the fix
    files["metrics"].write_text(RANK_METRICS.format(name=""))
    with pytest.raises(ValueError, match=r"metrics\[1\] reports as 'WER'.*give it its own name"):
        run_stages(recipe, ["measure"], files, tiny_corpus + tiny_conformer + NBEST_RUN)


def test_nbest_lists_pad_the_ranks_a_search_did_not_finish():
    hyps = [Hypothesis([1, 2], -0.5), Hypothesis([1], -1.25)]
    texts, scores = nbest_lists(hyps, 4, lambda ids: " ".join(map(str, ids)))
    assert texts == ["1 2", "1", "", ""] and scores == [-0.5, -1.25, float("-inf"), float("-inf")]


def test_asr_output_writes_the_ranks_and_refuses_what_it_cannot_pair():
    out = asr_output({"utt_id": "u1", "text": "one two", "voice": "kal"},
                     {"text": "one two", "score": -0.5, "nbest": ["one two", ""],
                      "nbest_scores": [-0.5, float("-inf")]}, 0)
    assert out == {"utt_id": "u1", "hyp": "one two", "ref": "one two", "score": -0.5, "hyp_1best": "one two",
                   "score_1best": -0.5, "hyp_2best": "", "score_2best": float("-inf"), "voice": "kal"}
    # CTC greedy gives text only: no score, no ranks
    assert asr_output({"utt_id": "u1", "text": "one"}, {"text": "one"}, 0) == {"utt_id": "u1", "hyp": "one", "ref": "one"}
    with pytest.raises(ValueError, match="u1: the model returned 2 n-best texts but 1 nbest_scores"):
        asr_output({"utt_id": "u1"}, {"text": "a", "nbest": ["a", "b"], "nbest_scores": [-1.0]}, 0)
    with pytest.raises(ValueError, match="u1: dataset field 'score' has the name of an output field"):
        asr_output({"utt_id": "u1", "score": "4.5"}, {"text": "a", "score": -1.0}, 0)
