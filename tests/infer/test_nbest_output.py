"""``decode.nbest: N`` writes every rank as its own scp file, scoreable like ``hyp``."""

from vocalis.infer.output import asr_output
from vocalis.infer.scp import read_scp
from vocalis.metrics.wer import ErrorRate
from vocalis.stages.runner import run_stages

TINY_CONFORMER = ["encoder_conf.num_blocks=1", "encoder_conf.output_size=32", "encoder_conf.attention_heads=2",
                  "encoder_conf.linear_units=64", "decoder_conf.linear_units=64", "decoder_conf.attention_heads=2",
                  "trainer.max_epochs=1", "dataloader.batch_size=8", "exp_tag=nbest_output",
                  "inference.model.decode.beam_size=4", "inference.model.decode.nbest=3",
                  # this one-epoch model finishes few hypotheses on its own; at the length cap every
                  # running one is finished as it is, so each utterance has all three ranks
                  "inference.model.decode.maxlenratio=0.2"]


def test_infer_writes_each_rank_of_the_nbest_lists(recipes, tiny_corpus):
    recipe = recipes["digits"]
    conf = recipe / "conf"
    files = {"training": conf / "training_conformer.yaml", "inference": conf / "inference_conformer.yaml",
             "metrics": conf / "metrics.yaml"}
    run_stages(recipe, ["train_tokenizer", "collect_stats", "train", "infer"], files, tiny_corpus + TINY_CONFORMER)
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
    # any rank scores like the 1-best (an oracle or rescoring study reads them the same way)
    second = ErrorRate(hyp_key="hyp_2best")(folder.parent, "test")
    assert second["Snt"] == len(hyp) and second["WER"] >= 0


def test_missing_ranks_are_empty_with_minus_infinity():
    out = asr_output({"utt_id": "u1", "text": "one two", "voice": "kal"},
                     {"text": "one two", "score": -0.5, "nbest": ["one two", ""],
                      "nbest_scores": [-0.5, float("-inf")]}, 0)
    assert out == {"utt_id": "u1", "hyp": "one two", "ref": "one two", "voice": "kal", "score": -0.5,
                   "hyp_1best": "one two", "score_1best": -0.5, "hyp_2best": "", "score_2best": float("-inf")}
    # CTC greedy gives text only: no score, no ranks
    assert asr_output({"utt_id": "u1", "text": "one"}, {"text": "one"}, 0) == {"utt_id": "u1", "hyp": "one", "ref": "one"}
