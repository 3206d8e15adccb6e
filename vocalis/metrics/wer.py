"""WER / CER metrics for the measure stage (``metrics: [{_target_: vocalis.metrics.wer.WER}]``)."""

from __future__ import annotations

import os
from pathlib import Path

from vocalis.infer.scp import read_scp
from vocalis.metrics.alignment import AlignedPair
from vocalis.metrics.error_rate import score_pairs
from vocalis.metrics.text_normalization import TextNormalizer


def format_alignment(utt_id: str, ops: list[AlignedPair]) -> str:
    """sclite-style block: REF/HYP columns, ``***`` for gaps, errors upper-cased, an Eval line."""
    refs, hyps, evals = [], [], []
    for op in ops:
        ref, hyp = op.ref or "", op.hyp or ""
        if op.op != "C":
            ref, hyp = ref.upper(), hyp.upper()
        width = max(len(ref), len(hyp), 3)
        refs.append((ref or "*" * width).ljust(width))
        hyps.append((hyp or "*" * width).ljust(width))
        evals.append(("" if op.op == "C" else op.op).ljust(width))
    n = {k: sum(o.op == k for o in ops) for k in "CSDI"}
    return (f"id: {utt_id}\nScores: (#C #S #D #I) {n['C']} {n['S']} {n['D']} {n['I']}\n"
            f"REF:  {' '.join(refs)}\nHYP:  {' '.join(hyps)}\nEval: {' '.join(evals).rstrip()}\n")


class ErrorRate:
    """Error rate between two scp files of a test set (written by the infer stage).

    Args:
        unit: ``word`` (WER) or ``char`` (CER, spaces removed).
        ref_key / hyp_key: scp file stems in ``<inference_dir>/<test>/``.
        case / remove_punctuation: text normalisation (see TextNormalizer).
        costs: ``unit`` (Levenshtein, like jiwer) or ``sclite`` (sub 4, ins 3, del 3).
        name: key in metrics.json; ``WER`` or ``CER`` by default.
    """

    def __init__(self, unit: str = "word", ref_key: str = "ref", hyp_key: str = "hyp", case: str = "fold",
                 remove_punctuation: bool = False, costs: str = "unit", name: str | None = None):
        self.unit, self.ref_key, self.hyp_key, self.costs = unit, ref_key, hyp_key, costs
        self.normalizer = TextNormalizer(case, remove_punctuation)
        self.name = name or {"word": "WER", "char": "CER"}.get(unit, unit.upper())

    def __call__(self, inference_dir: str | Path, test_name: str) -> dict[str, float | int]:
        folder = Path(inference_dir) / test_name
        ref_file, hyp_file = folder / f"{self.ref_key}.scp", folder / f"{self.hyp_key}.scp"
        refs, hyps = read_scp(ref_file), read_scp(hyp_file)
        missing, extra = [k for k in refs if k not in hyps], [k for k in hyps if k not in refs]
        if missing or extra:
            raise ValueError(f"{hyp_file} and {ref_file} list different utterances: {len(missing)} without a "
                             f"hypothesis (e.g. {missing[:3]}), {len(extra)} without a reference (e.g. {extra[:3]}); "
                             "re-run the infer stage for this test set")
        counts, alignments = score_pairs(((k, refs[k], hyps[k]) for k in refs), self.unit, self.normalizer, self.costs)
        path = folder / f"{self.name.lower()}_alignment.txt"
        tmp = path.with_name(path.name + ".partial")
        tmp.write_text("\n".join(format_alignment(u, ops) for u, ops in alignments), encoding="utf-8")
        os.replace(tmp, path)
        return counts.as_dict(self.name)


class WER(ErrorRate):
    """Word error rate."""

    def __init__(self, **kwargs):
        kwargs.setdefault("unit", "word")
        super().__init__(**kwargs)


class CER(ErrorRate):
    """Character error rate (spaces removed)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("unit", "char")
        super().__init__(**kwargs)
