"""CTC prefix scores equal brute-force sums over every frame-level path."""

import itertools
import math

import torch

from vocalis.decode.ctc_prefix_score import CTCPrefixScorer

BLANK, EOS, V = 0, 3, 4  # tokens 1, 2 are labels; 3 is <sos/eos> (never emitted by CTC)


def collapse(path):
    out, prev = [], None
    for s in path:
        if s != prev and s != BLANK:
            out.append(s)
        prev = s
    return out


def brute_force(log_probs: torch.Tensor, prefix: list[int], complete: bool) -> float:
    """log P(CTC output starts with prefix) (or equals it, when complete)."""
    total = -math.inf
    t = log_probs.shape[0]
    for path in itertools.product(range(V), repeat=t):
        labels = collapse(path)
        hit = labels == prefix if complete else labels[: len(prefix)] == prefix
        if hit:
            total = float(torch.logaddexp(torch.tensor(total), sum(log_probs[i, s] for i, s in enumerate(path))))
    return total


def test_prefix_scores_match_brute_force_with_padding():
    torch.manual_seed(0)
    frames = 6
    logits = torch.randn(2, frames, V)
    logits[..., EOS] = -1e4  # CTC never emits <sos/eos>
    log_probs = logits.log_softmax(-1)
    lengths = torch.tensor([6, 4])  # the second utterance is padded by 2 frames
    scorer = CTCPrefixScorer(log_probs, lengths, BLANK, EOS)
    prefix: list[list[int]] = [[], []]
    for step_tokens in ([1, 2], [1, 1], [2, 1]):
        candidates = torch.tensor([[1, 2, EOS], [1, 2, EOS]])
        psi, r = scorer.score(candidates)
        for b in range(2):
            lp = log_probs[b, : lengths[b]]
            for k, c in enumerate(candidates[b].tolist()):
                expected = brute_force(lp, prefix[b], True) if c == EOS else brute_force(lp, prefix[b] + [c], False)
                assert math.isclose(psi[b, k].item(), expected, rel_tol=1e-4, abs_tol=1e-4), (b, prefix[b], c)
        tokens = torch.tensor(step_tokens)
        choice = torch.tensor([candidates[b].tolist().index(step_tokens[b]) for b in range(2)])
        scorer.advance(torch.arange(2), choice, psi, r, tokens)
        for b in range(2):
            prefix[b].append(step_tokens[b])
