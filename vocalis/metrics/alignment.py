"""Levenshtein alignment of a reference and a hypothesis token sequence.

Two cost schemes:
- ``unit``: substitution, insertion and deletion each cost 1 (jiwer, plain edit distance);
- ``sclite``: substitution 4, insertion 3, deletion 3 (NIST sclite's defaults). A
  substitution (4) stays cheaper than a deletion plus an insertion (6), but the weights
  can pick a path with more errors than the minimum: ``a b`` vs ``b c`` aligns as
  D, C, I (cost 6) rather than S, S (cost 8), so sclite counts 2 errors as 1 del + 1 ins.

Ties in cost go to the alignment with more correct tokens, then deterministically in
the order correct/substitution, deletion, insertion when tracing back from the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

COSTS = {"unit": (1, 1, 1), "sclite": (4, 3, 3)}  # (sub, ins, del)


@dataclass(frozen=True)
class AlignedPair:
    """One alignment column: op is ``C`` (correct), ``S``, ``D`` (ref only) or ``I`` (hyp only)."""

    op: str
    ref: str | None
    hyp: str | None


def align(ref: Sequence, hyp: Sequence, costs: str = "unit") -> list[AlignedPair]:
    """Minimum-cost alignment of ``ref`` and ``hyp`` as a list of columns, in order.

    Among alignments of equal cost the one with the most correct tokens wins (then
    substitution before deletion before insertion), so the counts are not an artefact of the
    traceback order. The total of errors equals jiwer's for unit costs; the S/D/I split may
    differ where jiwer prefers substitutions (``a b`` -> ``b c``: one deletion and one insertion
    here, two substitutions there).
    """
    if costs not in COSTS:
        raise ValueError(f"costs must be one of {sorted(COSTS)}, got {costs!r}")
    n, m = len(ref), len(hyp)
    # Scores pack (cost, -correct) into one integer: cost * scale - correct, minimised.
    scale = n + m + 1
    sub_s, ins_s, del_s = (c * scale for c in COSTS[costs])
    hit_s = -1
    # score[i][j]: best score aligning ref[:i] with hyp[:j]
    score = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        score[i][0] = i * del_s
    for j in range(1, m + 1):
        score[0][j] = j * ins_s
    for i in range(1, n + 1):
        row, prev, r = score[i], score[i - 1], ref[i - 1]
        for j in range(1, m + 1):
            diag = prev[j - 1] + (hit_s if r == hyp[j - 1] else sub_s)
            row[j] = min(diag, prev[j] + del_s, row[j - 1] + ins_s)
    out: list[AlignedPair] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            same = ref[i - 1] == hyp[j - 1]
            if score[i][j] == score[i - 1][j - 1] + (hit_s if same else sub_s):
                out.append(AlignedPair("C" if same else "S", ref[i - 1], hyp[j - 1]))
                i, j = i - 1, j - 1
                continue
        if i > 0 and score[i][j] == score[i - 1][j] + del_s:
            out.append(AlignedPair("D", ref[i - 1], None))
            i -= 1
        else:
            out.append(AlignedPair("I", None, hyp[j - 1]))
            j -= 1
    out.reverse()
    return out


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Number of substitutions + deletions + insertions of the unit-cost alignment."""
    if not ref:
        return len(hyp)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j - 1] + (r != h), prev[j] + 1, cur[j - 1] + 1)
        prev = cur
    return prev[-1]
