"""Corpus-level error counts with sclite's columns (Snt, Wrd, Corr, Sub, Del, Ins, Err, S.Err)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from vocalis.metrics.alignment import AlignedPair, align

UNITS = ("word", "char")


@dataclass
class ErrorCounts:
    """Totals over a test set; rates are pooled (total errors / total reference tokens)."""

    snt: int = 0
    wrd: int = 0   # reference tokens (words or characters)
    corr: int = 0
    sub: int = 0
    dele: int = 0
    ins: int = 0
    serr: int = 0  # sentences with at least one error

    @property
    def err(self) -> int:
        return self.sub + self.dele + self.ins

    def add(self, ops: list[AlignedPair]) -> None:
        self.snt += 1
        for op in ops:
            self.wrd += op.op != "I"
            self.corr += op.op == "C"
            self.sub += op.op == "S"
            self.dele += op.op == "D"
            self.ins += op.op == "I"
        self.serr += any(op.op != "C" for op in ops)

    def rate(self) -> float:
        """Error rate in percent; an empty reference set has no rate."""
        if self.wrd == 0:
            raise ValueError("no reference tokens: cannot compute an error rate")
        return 100.0 * self.err / self.wrd

    def as_dict(self, name: str) -> dict[str, float | int]:
        """``{name: rate %, Snt, Wrd, Corr %, Sub %, Del %, Ins %, Err %, S.Err %, n_* raw counts}``."""
        pct = lambda x, n: round(100.0 * x / n, 2) if n else 0.0  # noqa: E731
        return {
            name: round(self.rate(), 2), "Snt": self.snt, "Wrd": self.wrd,
            "Corr": pct(self.corr, self.wrd), "Sub": pct(self.sub, self.wrd), "Del": pct(self.dele, self.wrd),
            "Ins": pct(self.ins, self.wrd), "Err": pct(self.err, self.wrd), "S.Err": pct(self.serr, self.snt),
            "n_corr": self.corr, "n_sub": self.sub, "n_del": self.dele, "n_ins": self.ins, "n_err": self.err,
            "n_serr": self.serr,
        }


def tokenize(text: str, unit: str) -> list[str]:
    """Words split on whitespace, or characters with spaces removed (CER over letters)."""
    if unit == "word":
        return text.split()
    if unit == "char":
        return [c for c in text if not c.isspace()]
    raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")


def score_pairs(pairs: Iterable[tuple[str, str, str]], unit: str = "word",
                normalizer: Callable[[str], str] = str, costs: str = "unit"
                ) -> tuple[ErrorCounts, list[tuple[str, list[AlignedPair]]]]:
    """Score ``(utt_id, ref, hyp)`` triples; returns totals and each utterance's alignment."""
    counts, alignments = ErrorCounts(), []
    for utt_id, ref, hyp in pairs:
        ops = align(tokenize(normalizer(ref), unit), tokenize(normalizer(hyp), unit), costs)
        counts.add(ops)
        alignments.append((utt_id, ops))
    if counts.snt == 0:
        raise ValueError("nothing to score: no (ref, hyp) pairs")
    return counts, alignments
