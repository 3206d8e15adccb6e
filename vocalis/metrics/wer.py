"""WER / CER metrics for the measure stage (``metrics: [{_target_: vocalis.metrics.wer.WER}]``)."""

from __future__ import annotations

from pathlib import Path

from vocalis.atomic_files import write_text_atomically
from vocalis.infer.scp import read_scp
from vocalis.metrics.alignment import AlignedPair
from vocalis.metrics.error_rate import ErrorCounts, score_pairs
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
        group_by: also score each group of utterances (speaker, voice, condition...): the
            stem of an scp file in the same folder mapping utterances to group labels, written
            by the infer stage when ``output_fn`` returns that field. The result gets
            ``by_<group_by>: {label: {name, Snt, Wrd, n_err}}``, most errors first.
    """

    def __init__(self, unit: str = "word", ref_key: str = "ref", hyp_key: str = "hyp", case: str = "fold",
                 remove_punctuation: bool = False, costs: str = "unit", name: str | None = None,
                 group_by: str | None = None):
        self.unit, self.ref_key, self.hyp_key, self.costs = unit, ref_key, hyp_key, costs
        self.group_by = group_by
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
        if counts.wrd == 0:
            raise ValueError(f"{ref_file}: every reference of {test_name} is empty, so {self.name} has no denominator; "
                             "check the test set's transcripts, or leave it out of metrics.yaml's test_sets")
        path = folder / f"{self.name.lower()}_alignment.txt"
        write_text_atomically(path, "\n".join(format_alignment(u, ops) for u, ops in alignments))
        result = counts.as_dict(self.name)
        if self.group_by:
            result[f"by_{self.group_by}"] = self._per_group(folder, refs, alignments)
        return result

    def _per_group(self, folder: Path, refs: dict[str, str], alignments: list) -> dict[str, dict]:
        group_file = folder / f"{self.group_by}.scp"
        if not group_file.is_file():
            raise FileNotFoundError(f"group_by: {self.group_by} needs {group_file}: make output_fn return a "
                                    f"{self.group_by!r} field (e.g. from the dataset item) and re-run the infer stage")
        labels = read_scp(group_file)
        unlabelled = [k for k in refs if k not in labels]
        if unlabelled:
            raise ValueError(f"{group_file} has no {self.group_by} for {len(unlabelled)} utterances "
                             f"(e.g. {unlabelled[:3]}); re-run the infer stage for this test set")
        groups: dict[str, ErrorCounts] = {}
        for utt_id, ops in alignments:
            groups.setdefault(labels[utt_id], ErrorCounts()).add(ops)
        # a group with no reference words has no rate (None, "n/a" in results.md), however many insertions
        rows = {label: {self.name: round(c.rate(), 2) if c.wrd else None, "Snt": c.snt, "Wrd": c.wrd, "n_err": c.err}
                for label, c in groups.items()}
        # most errors first (what the total is made of), then the higher rate
        return dict(sorted(rows.items(), key=lambda kv: (-kv[1]["n_err"], -(kv[1][self.name] or 0.0), kv[0])))


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
