"""Joint CTC/attention beam search: exact on a tiny problem, batch-independent, n-best ordered, and
its length knobs (maxlenratio, minlenratio, penalty) doing what they say."""

import itertools
import math

import pytest
import torch

from vocalis.decode.beam_search import BeamSearchOptions, beam_search
from vocalis.tasks.asr.decoder import TransformerDecoder

V, BLANK, EOS, D = 4, 0, 3, 16  # labels 1, 2


def peaked(seed: int, vocab: int = V) -> tuple[TransformerDecoder, torch.nn.Linear]:
    """A random decoder and CTC head with confident (non-tied) outputs."""
    torch.manual_seed(seed)
    decoder = TransformerDecoder(vocab, D, attention_heads=2, linear_units=32, num_blocks=2).eval()
    ctc_head = torch.nn.Linear(D, vocab)
    with torch.no_grad():
        decoder.output.weight.mul_(8.0)
        ctc_head.weight.mul_(4.0)
    return decoder, ctc_head


def ctc_log_prob(log_probs: torch.Tensor, labels: list[int], prefix: bool) -> float:
    total = -math.inf
    for path in itertools.product(range(V), repeat=log_probs.shape[0]):
        out, prev = [], None
        for s in path:
            if s != prev and s != BLANK:
                out.append(s)
            prev = s
        if (out[: len(labels)] == labels) if prefix else (out == labels):
            total = float(torch.logaddexp(torch.tensor(total), sum(log_probs[t, s] for t, s in enumerate(path))))
    return total


def joint_score(decoder, ctc_head, enc, labels, forced, lam):
    ys = torch.tensor([[EOS] + labels])
    att = decoder(enc, torch.tensor([enc.shape[1]]), ys).log_softmax(-1)[0]  # (L+1, V)
    targets = labels if forced else labels + [EOS]
    att_score = sum(att[i, t].item() for i, t in enumerate(targets))
    ctc = ctc_log_prob(ctc_head(enc)[0].log_softmax(-1), labels, prefix=forced)
    return (1 - lam) * att_score + lam * ctc


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.7])
def test_a_wide_beam_finds_the_best_joint_score_exhaustively(lam):
    decoder, ctc_head = peaked(0)
    torch.manual_seed(5)
    enc = torch.randn(1, 3, D)  # 3 frames: at most 3 tokens
    with torch.no_grad():
        best = beam_search(decoder, ctc_head if lam else None, enc, torch.tensor([3]), EOS,
                           BeamSearchOptions(beam_size=16, ctc_weight=lam, nbest=3, pre_beam_ratio=4))[0]
        candidates = [(list(seq), n == 3) for n in range(4) for seq in itertools.product([1, 2], repeat=n)]
        scores = sorted(((joint_score(decoder, ctc_head, enc, s, f, lam), s) for s, f in candidates), reverse=True)
    assert best[0].tokens == scores[0][1]
    assert best[0].score == pytest.approx(scores[0][0], abs=1e-4)
    assert [h.score for h in best] == sorted([h.score for h in best], reverse=True)


def test_a_beam_wider_than_the_vocabulary_keeps_ctc_impossible_prefixes_out():
    """With beam 16 over 2 labels and 4 frames some kept prefixes are impossible for CTC (psi -inf).
    Their increments must stay -inf: -inf - (-inf) = nan ranked above every real score once,
    and the nan rows pushed the best hypothesis out of the beam."""
    torch.manual_seed(9)
    decoder = TransformerDecoder(V, D, attention_heads=2, linear_units=32, num_blocks=2).eval()
    ctc_head = torch.nn.Linear(D, V)
    with torch.no_grad():
        decoder.output.bias[EOS] -= 5.0  # reluctant to end: the beam fills with long prefixes
    enc = torch.randn(1, 4, D)
    with torch.no_grad():
        hyps = beam_search(decoder, ctc_head, enc, torch.tensor([4]), EOS,
                           BeamSearchOptions(beam_size=16, ctc_weight=0.3, nbest=3))[0]
        candidates = [(list(seq), n == 4) for n in range(5) for seq in itertools.product([1, 2], repeat=n)]
        best_score, best_tokens = max((joint_score(decoder, ctc_head, enc, s, f, 0.3), s) for s, f in candidates)
    assert all(math.isfinite(h.score) for h in hyps)
    assert hyps[0].tokens == best_tokens
    assert hyps[0].score == pytest.approx(best_score, abs=1e-4)


def test_same_hypotheses_in_a_batch_of_1_and_of_16():
    decoder, ctc_head = peaked(1, vocab=12)
    torch.manual_seed(2)
    lengths = torch.randint(4, 20, (16,))
    enc = torch.randn(16, 20, D)
    opts = BeamSearchOptions(beam_size=4, ctc_weight=0.3, nbest=2)
    with torch.no_grad():
        batched = beam_search(decoder, ctc_head, enc, lengths, 11, opts)
        for i in range(16):
            alone = beam_search(decoder, ctc_head, enc[i:i + 1, : lengths[i]], lengths[i:i + 1], 11, opts)[0]
            assert [h.tokens for h in alone] == [h.tokens for h in batched[i]]
            assert [h.score for h in alone] == pytest.approx([h.score for h in batched[i]], abs=1e-4)


def test_beam_of_one_without_ctc_is_greedy_attention_decoding():
    decoder, _ = peaked(3, vocab=12)
    enc = torch.randn(1, 10, D)
    with torch.no_grad():
        hyp = beam_search(decoder, None, enc, torch.tensor([10]), 11, BeamSearchOptions(beam_size=1, ctc_weight=0.0))[0][0]
        ys = [11]
        for _ in range(10):
            logp = decoder(enc, torch.tensor([10]), torch.tensor([ys])).log_softmax(-1)[0, -1]
            logp[BLANK] = -math.inf
            token = int(logp.argmax())
            if token == 11:
                break
            ys.append(token)
    assert hyp.tokens == ys[1:]


def test_bad_options_name_the_fix():
    with pytest.raises(ValueError, match="ctc_greedy"):
        BeamSearchOptions(ctc_weight=1.0)
    with pytest.raises(ValueError, match="nbest"):
        BeamSearchOptions(beam_size=2, nbest=3)
    decoder, _ = peaked(0)
    with pytest.raises(ValueError, match="no CTC head.*ctc_weight: 0"):
        beam_search(decoder, None, torch.randn(1, 3, D), torch.tensor([3]), EOS, BeamSearchOptions(ctc_weight=0.3))
    with pytest.raises(ValueError, match="minlenratio must be >= 0"):
        BeamSearchOptions(minlenratio=-1.0)
    with pytest.raises(ValueError, match="fixed maximum"):
        BeamSearchOptions(maxlenratio=-0.5)


def eos_biased(bias: float) -> tuple[TransformerDecoder, torch.nn.Linear]:
    """:func:`peaked` with ``bias`` added to the decoder's ``<eos>`` logit (> 0: wants to end)."""
    decoder, ctc_head = peaked(4, vocab=12)
    with torch.no_grad():
        decoder.output.bias[11] += bias
    return decoder, ctc_head


@pytest.mark.parametrize("lam", [0.0, 0.3])
def test_maxlenratio_caps_the_hypothesis_length_at_ratio_times_frames(lam):
    decoder, ctc_head = eos_biased(-30.0)  # never ends on its own
    enc = torch.randn(1, 10, D)
    with torch.no_grad():
        hyps = beam_search(decoder, ctc_head if lam else None, enc, torch.tensor([10]), 11,
                           BeamSearchOptions(beam_size=3, ctc_weight=lam, nbest=3, maxlenratio=0.3))[0]
    assert [len(h.tokens) for h in hyps] == [3, 3, 3]  # int(0.3 * 10), finished as they are


def test_a_negative_maxlenratio_is_a_fixed_maximum_length():
    """ESPnet's meaning: ``maxlenratio: -N`` allows N tokens whatever the utterance's length."""
    decoder, ctc_head = eos_biased(-30.0)
    torch.manual_seed(6)
    enc = torch.randn(2, 20, D)
    with torch.no_grad():
        hyps = beam_search(decoder, None, enc, torch.tensor([20, 8]), 11,
                           BeamSearchOptions(beam_size=2, ctc_weight=0.0, maxlenratio=-5.0))
    assert [len(h[0].tokens) for h in hyps] == [5, 5]


def test_a_minlenratio_under_one_token_leaves_eos_allowed():
    """``int(ratio * frames)`` tokens at least, as ESPnet: 0.05 of 10 frames is no minimum."""
    decoder, _ = eos_biased(30.0)
    enc = torch.randn(1, 10, D)
    with torch.no_grad():
        hyp = beam_search(decoder, None, enc, torch.tensor([10]), 11,
                          BeamSearchOptions(beam_size=3, ctc_weight=0.0, minlenratio=0.05))[0][0]
    assert hyp.tokens == []


def test_minlenratio_keeps_eos_out_until_ratio_times_frames():
    decoder, _ = eos_biased(30.0)  # ends at once if it may
    enc = torch.randn(1, 10, D)
    with torch.no_grad():
        free = beam_search(decoder, None, enc, torch.tensor([10]), 11, BeamSearchOptions(beam_size=3, ctc_weight=0.0))
        held = beam_search(decoder, None, enc, torch.tensor([10]), 11,
                           BeamSearchOptions(beam_size=3, ctc_weight=0.0, minlenratio=0.5))
    assert free[0][0].tokens == []
    assert len(held[0][0].tokens) == 5  # int(0.5 * 10)


@pytest.mark.parametrize("penalty, length", [(50.0, 4), (-50.0, 0)])
def test_penalty_is_a_per_token_length_bonus(penalty, length):
    decoder, ctc_head = peaked(0)
    torch.manual_seed(5)
    enc = torch.randn(1, 8, D)
    opts = BeamSearchOptions(beam_size=4, ctc_weight=0.3, penalty=penalty, maxlenratio=0.5)  # at most 4 tokens
    with torch.no_grad():
        best = beam_search(decoder, ctc_head, enc, torch.tensor([8]), EOS, opts)[0][0]
    assert len(best.tokens) == length


def test_score_adds_the_penalty_once_per_token_and_once_for_eos():
    decoder, ctc_head = peaked(0)
    torch.manual_seed(5)
    enc = torch.randn(1, 3, D)  # as in the exhaustive test: the beam finds the best hypothesis
    with torch.no_grad():
        best = beam_search(decoder, ctc_head, enc, torch.tensor([3]), EOS,
                           BeamSearchOptions(beam_size=16, ctc_weight=0.3, penalty=0.25, pre_beam_ratio=4))[0][0]
        expected = joint_score(decoder, ctc_head, enc, best.tokens, False, 0.3) + 0.25 * (len(best.tokens) + 1)
    assert len(best.tokens) < 3  # ended by <eos> (3 tokens would be the frame cap)
    assert best.score == pytest.approx(expected, abs=1e-4)
