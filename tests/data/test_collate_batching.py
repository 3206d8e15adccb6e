"""Padding, lengths and length-sorted batches."""

import torch

from vocalis.data.batching import SortedBatchSampler
from vocalis.data.collate import collate


def test_collate_pads_and_adds_lengths():
    items = [{"utt_id": "a", "speech": torch.ones(3, 2), "text": torch.tensor([5, 6])},
             {"utt_id": "b", "speech": torch.ones(5, 2), "text": torch.tensor([7])}]
    batch = collate(items)
    assert batch["utt_id"] == ["a", "b"]
    assert batch["speech"].shape == (2, 5, 2) and batch["speech"][0, 3:].abs().sum() == 0
    assert batch["speech_lengths"].tolist() == [3, 5]
    assert batch["text"].tolist() == [[5, 6], [7, -1]] and batch["text_lengths"].tolist() == [2, 1]


def test_sorted_batches_cover_every_item_once_with_little_padding():
    lengths = [((i * 37) % 100) + 1 for i in range(103)]
    sampler = SortedBatchSampler(lengths, batch_size=8, shuffle=True, seed=1)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(103))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert padded / sum(lengths) < 1.1


def test_batch_order_is_seeded_per_epoch():
    sampler = SortedBatchSampler(list(range(50)), batch_size=5, shuffle=True, seed=3)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
