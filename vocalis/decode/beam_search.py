"""Batched joint CTC/attention beam search (Watanabe et al., 2017; ESPnet's BatchBeamSearch).

All hypotheses of all utterances of a batch advance together as ``N = B * beam`` rows:
one decoder call (with cached layer outputs) and one CTC prefix-scoring pass per output
step. Each step:

1. the decoder scores every next token, ``att (N, V)``, from each hypothesis' latest token
   (``decoder.incremental(enc, enc_lengths, beam)`` returns the scorer: it keeps every
   layer's keys/values and is told which hypotheses survive, see
   :mod:`vocalis.tasks.asr.incremental_decoder`);
2. a pre-beam keeps the ``pre_beam_ratio * beam`` best tokens per hypothesis by
   ``(1 - ctc_weight) * att``;
3. CTC prefix scores are computed only for those candidates;
4. ``score += (1 - ctc_weight) * att + ctc_weight * (psi_new - psi_old) + penalty``;
5. the ``beam`` best extensions per utterance survive; those ending in ``<eos>`` are
   finished.

An utterance stops once no running hypothesis can still beat its best finished one (the
scores of further tokens are log-probabilities, at most 0, plus ``penalty``), or at its
maximum length, where running hypotheses are finished as they are (as ESPnet does).
Every utterance's result is independent of what it is batched with.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vocalis.decode.ctc_prefix_score import CTCPrefixScorer

NEG_INF = float("-inf")


@dataclass
class Hypothesis:
    tokens: list[int]  # without <sos>/<eos>
    score: float


@dataclass
class BeamSearchOptions:
    """Decoding knobs (the ``decode:`` block of inference.yaml).

    ``ctc_weight`` 0 gives attention-only beam search. ``maxlenratio`` 0 allows as many
    tokens as encoder frames; > 0 caps at ``ratio * frames``, < 0 at ``-ratio`` tokens whatever the
    length, as in ESPnet (hypotheses still running there end as they are). ``minlenratio`` (>= 0)
    keeps ``<eos>`` out before ``int(ratio * frames)`` tokens.
    ``penalty`` is added per token, ``<eos>`` included, as ESPnet's length bonus (a bonus for
    longer hypotheses when positive).
    """

    beam_size: int = 10
    ctc_weight: float = 0.3
    penalty: float = 0.0
    maxlenratio: float = 0.0
    minlenratio: float = 0.0
    nbest: int = 1
    pre_beam_ratio: float = 1.5

    def __post_init__(self):
        if self.beam_size < 1 or self.nbest < 1 or self.nbest > self.beam_size:
            raise ValueError(f"need 1 <= nbest <= beam_size, got nbest={self.nbest}, beam_size={self.beam_size}")
        if not 0.0 <= self.ctc_weight < 1.0:
            raise ValueError(f"decode.ctc_weight must be in [0, 1) for attention beam search, got {self.ctc_weight}; "
                             "for CTC alone use decode: ctc_greedy")
        if self.minlenratio < 0:
            raise ValueError(f"decode.minlenratio must be >= 0 (a fraction of the encoder frames), got "
                             f"{self.minlenratio}")
        if self.maxlenratio < 0 and int(-self.maxlenratio) < 1:
            raise ValueError(f"decode.maxlenratio < 0 sets a fixed maximum of -maxlenratio tokens, which must be "
                             f">= 1; got {self.maxlenratio}")


def _max_lengths(enc_lengths: torch.Tensor, ratio: float) -> list[int]:
    """Output steps per utterance, ``<eos>`` included: the frame count for ratio 0, ``-ratio``
    for a negative ratio (ESPnet's fixed maximum), else ``ratio * frames``; at least 1."""
    if ratio < 0:
        return [max(1, int(-ratio))] * len(enc_lengths)
    if ratio == 0:
        return [max(1, int(n)) for n in enc_lengths]
    return [max(1, int(ratio * int(n))) for n in enc_lengths]


@torch.inference_mode()
def beam_search(decoder: torch.nn.Module, ctc_head: torch.nn.Module | None, enc: torch.Tensor,
                enc_lengths: torch.Tensor, sos_eos_id: int, options: BeamSearchOptions,
                blank_id: int = 0) -> list[list[Hypothesis]]:
    """Decode a batch of encoder outputs ``enc (B, T, D)`` with lengths ``(B,)``.

    ``decoder`` needs ``vocab_size`` and ``incremental(enc, enc_lengths, beam)``, returning an
    object with ``score(tokens (N,)) -> log-probs (N, V)`` and ``reorder(rows (N,))``
    (:class:`~vocalis.tasks.asr.incremental_decoder.IncrementalDecoder` for the built-in
    decoder). Returns, per utterance, up to ``nbest`` hypotheses, best first.
    """
    b, w = enc.shape[0], options.beam_size
    n = b * w
    lam = options.ctc_weight
    scorer = decoder.incremental(enc, enc_lengths, w)
    ctc = None
    if lam > 0:
        if ctc_head is None:
            raise ValueError(f"decode.ctc_weight={lam} scores with CTC, but the model has no CTC head (trained with "
                             "model_conf.ctc_weight: 0?); decode with ctc_weight: 0")
        ctc = CTCPrefixScorer(ctc_head(enc).log_softmax(-1), enc_lengths, blank_id, sos_eos_id, group=w)
    yseq = torch.full((n, 1), sos_eos_id, dtype=torch.long, device=enc.device)
    tokens = yseq[:, 0]
    scores = torch.full((b, w), NEG_INF, device=enc.device)
    scores[:, 0] = 0.0  # one live hypothesis per utterance to start with
    scores = scores.view(n)
    max_len = _max_lengths(enc_lengths, options.maxlenratio)
    min_len = [int(options.minlenratio * int(t)) for t in enc_lengths]
    finished: list[list[Hypothesis]] = [[] for _ in range(b)]
    done = [False] * b
    # candidates kept per hypothesis: the pre-beam for CTC scoring, never more than the non-blank tokens
    k = min(decoder.vocab_size - 1, max(w, int(options.pre_beam_ratio * w)) if ctc is not None else w)
    for step in range(max(max_len)):
        att = scorer.score(tokens)  # (N, V)
        att[:, blank_id] = NEG_INF  # the decoder never emits blank
        for u in range(b):
            if step < min_len[u]:
                att[u * w:(u + 1) * w, sos_eos_id] = NEG_INF
        weighted = (1 - lam) * att
        cand_weighted, cand = weighted.topk(k, dim=1)  # (N, K)
        total = scores[:, None] + cand_weighted + options.penalty
        if ctc is not None:
            psi, r = ctc.score(cand)
            # a prefix CTC cannot produce has psi -inf, and so have all its extensions: keep
            # their increment -inf rather than -inf - (-inf) = nan, which topk ranks first
            gain = (psi - ctc.psi[:, None]).masked_fill(torch.isneginf(psi), NEG_INF)
            total = total + lam * gain.float()
        total = total.view(b, w * k)
        best, flat = total.topk(w, dim=1)  # (B, W)
        parents = (flat // k + torch.arange(b, device=enc.device)[:, None] * w).view(n)
        choice = (flat % k).view(n)
        tokens = cand[parents, choice]
        yseq = torch.cat([yseq[parents], tokens[:, None]], dim=1)
        scorer.reorder(parents)
        if ctc is not None:
            ctc.advance(parents, choice, psi, r, tokens)
        scores = best.view(n).clone()
        _collect(yseq, scores, tokens, sos_eos_id, step, max_len, finished, done, w, options.penalty)
        if all(done):
            break
    results = []
    for hyps in finished:
        hyps.sort(key=lambda h: h.score, reverse=True)
        results.append(hyps[: options.nbest])
    return results


def _collect(yseq: torch.Tensor, scores: torch.Tensor, tokens: torch.Tensor, eos: int, step: int,
             max_len: list[int], finished: list[list[Hypothesis]], done: list[bool], w: int, penalty: float) -> None:
    """Move ended hypotheses out of the beam (their score becomes -inf) and mark finished utterances.

    Works on Python lists and writes ``scores`` once: per-element tensor reads and writes
    cost microseconds each, and this runs at every output step."""
    ended = (tokens == eos).tolist()
    score_list = scores.tolist()
    removed: list[int] = []
    for u in range(len(done)):
        rows = range(u * w, (u + 1) * w)
        if done[u]:
            removed.extend(rows)
            continue
        last_step = step == max_len[u] - 1
        running = []
        for i in rows:
            if not score_list[i] > NEG_INF:  # out of the beam (-inf); never nan, but never kept if it were
                continue
            if ended[i]:
                finished[u].append(Hypothesis(yseq[i, 1:-1].tolist(), score_list[i]))
                removed.append(i)
            elif last_step:  # out of length: finish as is
                finished[u].append(Hypothesis(yseq[i, 1:].tolist(), score_list[i]))
                removed.append(i)
            else:
                running.append(score_list[i])
        remaining = max_len[u] - 1 - step
        best_done = max((h.score for h in finished[u]), default=NEG_INF)
        if not running or last_step or best_done >= max(running) + max(penalty, 0.0) * remaining:
            done[u] = True
            removed.extend(rows)
    if removed:
        scores[torch.tensor(removed, device=scores.device)] = NEG_INF
