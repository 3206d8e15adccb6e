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


def prefix_score_by_frames(log_probs: torch.Tensor, prefix: list[int], c: int) -> float:
    """Algorithm 2 of Watanabe et al. (2017) frame by frame in float64: log P(output starts with prefix + c)."""
    x = log_probs.double()
    t_max = x.shape[0]
    r_n = torch.full((t_max,), -math.inf, dtype=torch.float64)
    r_b = torch.cumsum(x[:, BLANK], 0)  # the empty prefix
    for k, token in enumerate(prefix + [c]):
        r_sum = torch.logaddexp(r_n, r_b)
        phi = r_b if k > 0 and token == prefix[k - 1] else r_sum
        new_n = torch.full_like(r_n, -math.inf)
        new_b = torch.full_like(r_n, -math.inf)
        psi = x[0, token] if k == 0 else torch.tensor(-math.inf, dtype=torch.float64)
        if k == 0:
            new_n[0] = x[0, token]
        for t in range(max(k, 1), t_max):
            new_n[t] = torch.logaddexp(new_n[t - 1], phi[t - 1]) + x[t, token]
            new_b[t] = torch.logaddexp(new_n[t - 1], new_b[t - 1]) + x[t, BLANK]
            psi = torch.logaddexp(psi, phi[t - 1] + x[t, token])
        r_n, r_b = new_n, new_b
    return float(psi)


def test_long_peaked_posteriors_score_like_the_frame_by_frame_recursion():
    """400 frames of confident posteriors: the closed-form scans keep their precision."""
    torch.manual_seed(1)
    frames, prefix = 400, [1, 2, 2, 1]
    logits = torch.randn(1, frames, V) * 8  # peaked: log-probs down to about -60
    logits[..., EOS] = -1e4
    log_probs = logits.log_softmax(-1)
    scorer = CTCPrefixScorer(log_probs, torch.tensor([frames]), BLANK, EOS)
    for k, token in enumerate(prefix):
        candidates = torch.tensor([[1, 2]])
        psi, state = scorer.score(candidates)
        for j, c in enumerate(candidates[0].tolist()):
            expected = prefix_score_by_frames(log_probs[0], prefix[:k], c)
            assert math.isclose(psi[0, j].item(), expected, rel_tol=1e-9, abs_tol=1e-6), (prefix[:k], c)
        scorer.advance(torch.tensor([0]), torch.tensor([candidates[0].tolist().index(token)]), psi, state,
                       torch.tensor([token]))


def test_hypotheses_grouped_per_utterance_score_as_repeated_rows():
    """``group=3`` keeps one posterior table per utterance; the scores are those of a table per hypothesis."""
    torch.manual_seed(2)
    logits = torch.randn(2, 7, V)
    logits[..., EOS] = -1e4
    log_probs, lengths = logits.log_softmax(-1), torch.tensor([7, 5])
    grouped = CTCPrefixScorer(log_probs, lengths, BLANK, EOS, group=3)
    repeated = CTCPrefixScorer(log_probs.repeat_interleave(3, 0), lengths.repeat_interleave(3), BLANK, EOS)
    assert grouped.x.numel() == log_probs.numel()
    candidates = torch.tensor([[1, 2, EOS]] * 6)
    for step in range(3):
        (psi_g, state_g), (psi_r, state_r) = grouped.score(candidates), repeated.score(candidates)
        assert torch.equal(psi_g, psi_r)
        parents, choice = torch.tensor([0, 0, 1, 3, 4, 4]), torch.tensor([0, 1, step % 2, 1, 0, 1])
        tokens = candidates[parents, choice]
        grouped.advance(parents, choice, psi_g, state_g, tokens)
        repeated.advance(parents, choice, psi_r, state_r, tokens)
