"""WER/CER agree with jiwer on random sentence pairs; sclite columns and alignment files are right."""

import json
import random

import jiwer
import pytest

from vocalis.infer.scp import write_scp
from vocalis.metrics.alignment import align, edit_distance
from vocalis.metrics.error_rate import score_pairs
from vocalis.metrics.report import format_results_table, write_metrics_json
from vocalis.metrics.wer import CER, WER

WORDS = "zero one two three four five six seven eight nine oh".split()


def random_pairs(n: int, seed: int) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    pairs = []
    for k in range(n):
        ref = [rng.choice(WORDS) for _ in range(rng.randint(1, 9))]
        hyp = [w if rng.random() < 0.7 else rng.choice(WORDS) for w in ref if rng.random() > 0.15]
        hyp += [rng.choice(WORDS) for _ in range(rng.randint(0, 2))]
        pairs.append((f"u{k}", " ".join(ref), " ".join(hyp)))
    return pairs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_word_and_char_counts_match_jiwer(seed):
    pairs = random_pairs(200, seed)
    refs, hyps = [p[1] for p in pairs], [p[2] for p in pairs]
    counts, _ = score_pairs(pairs, "word")
    expected = jiwer.process_words(refs, hyps)
    assert counts.err == expected.substitutions + expected.deletions + expected.insertions
    assert counts.rate() == pytest.approx(100 * expected.wer)
    # equal-cost alignments differ only in their split; ours keeps the most correct words
    assert counts.corr >= expected.hits

    chars, _ = score_pairs(pairs, "char")
    no_space = lambda texts: [t.replace(" ", "") or " " for t in texts]  # noqa: E731 (jiwer needs non-empty)
    assert chars.rate() == pytest.approx(100 * jiwer.cer(no_space(refs), no_space(hyps)))


def test_edit_distance_equals_alignment_errors():
    for _, ref, hyp in random_pairs(100, 5):
        ops = align(ref.split(), hyp.split())
        assert edit_distance(ref.split(), hyp.split()) == sum(o.op != "C" for o in ops)


def test_ties_keep_correct_words_and_sclite_weights_can_cost_more_errors():
    assert [o.op for o in align("a b".split(), "b c".split())] == ["D", "C", "I"]  # not S S
    ref, hyp = "a a b".split(), "b c c".split()
    assert [o.op for o in align(ref, hyp, "unit")] == ["S", "S", "S"]
    assert [o.op for o in align(ref, hyp, "sclite")] == ["D", "D", "C", "I", "I"]  # both cost 12; the tie keeps "b"


def test_metric_reads_scp_writes_alignment_and_sclite_columns(tmp_path):
    write_scp(tmp_path / "t" / "ref.scp", [("a", "one two three"), ("b", "four")])
    write_scp(tmp_path / "t" / "hyp.scp", [("a", "One two"), ("b", "four five")])
    result = WER()(tmp_path, "t")
    # ref words 4; errors: del "three", ins "five"; case folded
    assert result["WER"] == 50.0 and result["Snt"] == 2 and result["Wrd"] == 4
    assert (result["Corr"], result["Del"], result["Ins"], result["S.Err"]) == (75.0, 25.0, 25.0, 100.0)
    assert "REF:  one two THREE" in (tmp_path / "t" / "wer_alignment.txt").read_text()
    assert CER()(tmp_path, "t")["CER"] == pytest.approx(100 * 9 / 15)

    write_metrics_json(tmp_path / "metrics.json", {"WER": {"t": result}})
    assert json.loads((tmp_path / "metrics.json").read_text())["WER"]["t"]["WER"] == 50.0
    assert "| t | 50.0 | 2 | 4 | 75.0 |" in format_results_table({"WER": {"t": result}})


def test_mismatched_scp_files_are_refused(tmp_path):
    write_scp(tmp_path / "t" / "ref.scp", [("a", "one"), ("b", "two")])
    write_scp(tmp_path / "t" / "hyp.scp", [("a", "one")])
    with pytest.raises(ValueError, match="1 without a hypothesis.*re-run the infer stage"):
        WER()(tmp_path, "t")


def test_group_by_scores_each_group_and_lists_the_worst_first(tmp_path):
    write_scp(tmp_path / "t" / "ref.scp", [("a", "one two"), ("b", "three four"), ("c", "five six seven eight")])
    write_scp(tmp_path / "t" / "hyp.scp", [("a", "one two"), ("b", "three"), ("c", "five six seven nine")])
    write_scp(tmp_path / "t" / "voice.scp", [("a", "kal"), ("b", "rms"), ("c", "kal")])
    result = WER(group_by="voice")(tmp_path, "t")
    assert result["WER"] == 25.0  # the pooled rate is unchanged: 2 errors / 8 words
    assert result["by_voice"] == {"rms": {"WER": 50.0, "Snt": 1, "Wrd": 2, "n_err": 1},
                                  "kal": {"WER": 16.67, "Snt": 2, "Wrd": 6, "n_err": 1}}
    table = format_results_table({"WER": {"t": result}})
    assert "### WER by voice (t)" in table and "| rms | 50.0 | 1 | 2 | 1 |\n| kal | 16.67 | 2 | 6 | 1 |" in table


def test_group_by_without_its_scp_file_says_how_to_get_it(tmp_path):
    write_scp(tmp_path / "t" / "ref.scp", [("a", "one")])
    write_scp(tmp_path / "t" / "hyp.scp", [("a", "one")])
    with pytest.raises(FileNotFoundError, match=r"group_by: speaker needs .*speaker.scp: make output_fn return a "
                                                r"'speaker' field"):
        WER(group_by="speaker")(tmp_path, "t")


def test_a_group_without_reference_words_has_no_rate_and_all_empty_references_are_named(tmp_path):
    write_scp(tmp_path / "t" / "ref.scp", [("a", "one two"), ("b", "")])
    write_scp(tmp_path / "t" / "hyp.scp", [("a", "one two"), ("b", "uh um")])
    write_scp(tmp_path / "t" / "spk.scp", [("a", "s1"), ("b", "s2")])
    result = WER(group_by="spk")(tmp_path, "t")
    assert result["by_spk"]["s2"] == {"WER": None, "Snt": 1, "Wrd": 0, "n_err": 2}  # not 0.0 with 2 errors
    assert "| s2 | n/a | 1 | 0 | 2 |" in format_results_table({"WER": {"t": result}})
    write_scp(tmp_path / "e" / "ref.scp", [("a", "")])
    write_scp(tmp_path / "e" / "hyp.scp", [("a", "x")])
    with pytest.raises(ValueError, match=r"e/ref.scp: every reference of e is empty.* test_sets"):
        WER()(tmp_path, "e")


@pytest.mark.parametrize("ref, hyp", [("café", "cafe\u0301"), ("don\u2019t", "don't"), ("STRASSE", "straße"),
                                      ("\u201chi\u201d there", '"hi" there')])
def test_the_same_words_in_other_unicode_spellings_score_as_correct(ref, hyp):
    from vocalis.metrics.text_normalization import TextNormalizer

    normalize = TextNormalizer("fold")
    assert normalize(ref) == normalize(hyp)
