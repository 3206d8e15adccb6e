"""CTC greedy decoding: collapse, blanks, lengths, batch independence."""

import torch

from vocalis.decode.ctc_greedy import ctc_greedy


def one_hot(ids, vocab=6):
    return torch.nn.functional.one_hot(torch.tensor(ids), vocab).float()


def test_merges_repeats_and_drops_blanks():
    logits = one_hot([0, 2, 2, 0, 2, 3, 3, 0, 0])[None]
    assert ctc_greedy(logits, torch.tensor([9])) == [[2, 2, 3]]


def test_frames_beyond_length_are_ignored_and_batching_does_not_change_results():
    a = one_hot([1, 1, 0, 4, 5, 5])
    b = one_hot([3, 0, 3, 0, 0, 0])
    batch = torch.stack([a, b])
    assert ctc_greedy(batch, torch.tensor([4, 3])) == [[1, 4], [3, 3]]
    assert ctc_greedy(a[None, :4], torch.tensor([4])) == [[1, 4]]
