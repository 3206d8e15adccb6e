"""Duration-bucketed dynamic batches: budgets, padding, epoch seeding, DDP shares, resume."""

import numpy as np
import pytest
import torch

from vocalis.data.duration_batching import DurationBatchSampler, padding_fraction
from vocalis.train.data import BatchLoader, PipelineDataset


def durations(n=500, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 12.0, n)


def test_batch_seconds_bounds_the_padded_cost_and_covers_every_item_once():
    d = durations(2000)
    sampler = DurationBatchSampler(d, batch_seconds=60.0, num_buckets=30, seed=1)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(d)))
    assert all(len(b) * d[b].max() <= 60.0 for b in batches)
    assert padding_fraction(batches, d) < 0.05
    assert np.mean([len(b) * d[b].max() for b in batches]) > 45.0  # batches are filled, not tiny


def test_quadratic_penalty_makes_long_batches_smaller():
    d = durations()
    sampler = DurationBatchSampler(d, batch_seconds=60.0, quadratic_duration=10.0, num_buckets=10)
    batches = list(sampler)
    for b in batches:
        longest = d[b].max()
        assert len(b) * (longest + longest**2 / 10.0) <= 60.0 or len(b) == 1
    long_sizes = [len(b) for b in batches if d[b].min() > 10.0]
    short_sizes = [len(b) for b in batches if d[b].max() < 2.0]
    assert max(long_sizes) <= 60.0 / (10.0 + 10.0) and min(short_sizes) >= 60.0 / (2.0 + 0.4) - 1


def test_fixed_batch_size_still_available_and_bucketing_beats_random_batches():
    d = durations(2000)
    bucketed = list(DurationBatchSampler(d, batch_size=16, num_buckets=30, seed=0))
    random_ = list(DurationBatchSampler(d, batch_size=16, num_buckets=1, seed=0))
    assert sum(len(b) == 16 for b in bucketed) >= len(d) // 16 - 1
    assert padding_fraction(bucketed, d) < 0.05 < 0.3 < padding_fraction(random_, d)


def test_length_factors_bucket_by_each_epochs_perturbed_lengths():
    d = durations(2000)
    draws = lambda epoch: 1.0 / np.random.default_rng([7, epoch]).choice([0.8, 0.9, 1.0, 1.1, 1.2], len(d))
    clean = DurationBatchSampler(d, batch_size=32, seed=0)
    aware = DurationBatchSampler(d, batch_size=32, seed=0, length_factors=draws)
    for epoch in (0, 1):
        perturbed = d * draws(epoch)
        assert padding_fraction(clean.batches(epoch), perturbed) > 0.12
        assert padding_fraction(aware.batches(epoch), perturbed) < 0.05
        assert sorted(i for b in aware.batches(epoch) for i in b) == list(range(len(d)))
    again = DurationBatchSampler(d, batch_size=32, seed=0, length_factors=draws)
    assert again.batches(1) == aware.batches(1), "a pure function of (seed, epoch): resuming rebuilds the plan"
    with pytest.raises(ValueError, match=r"length_factors\(0\) gave shape \(3,\), expected \(2000,\)"):
        DurationBatchSampler(d, batch_size=32, length_factors=lambda e: np.ones(3)).batches(0)


def test_shuffle_is_seeded_per_epoch_and_valid_order_is_fixed():
    d = durations(200)
    s = DurationBatchSampler(d, batch_seconds=40.0, seed=5)
    first = list(s)
    assert list(s) == first and DurationBatchSampler(d, batch_seconds=40.0, seed=5).batches(0) == first
    s.set_epoch(1)
    assert list(s) != first and sorted(map(tuple, map(sorted, s))) != sorted(map(tuple, map(sorted, first)))
    v = DurationBatchSampler(d, batch_seconds=40.0, shuffle=False)
    assert v.batches(0) == v.batches(3)
    flat = [i for b in v.batches(0) for i in b]
    assert all(d[a] <= d[b] for a, b in zip(flat, flat[1:])), "valid batches run from short to long"


@pytest.mark.parametrize("world", [2, 3, 4])
def test_ddp_ranks_get_disjoint_equal_shares_that_cover_the_data(world):
    d = durations(301)
    shares = [DurationBatchSampler(d, batch_seconds=50.0, seed=2, rank=r, world_size=world).batches(4)
              for r in range(world)]
    assert len({len(s) for s in shares}) == 1, "equal batch counts on every rank"
    seen = [i for s in shares for b in s for i in b]
    assert len(seen) == len(set(seen)) == len(d), "disjoint shares, nothing dropped"
    again = DurationBatchSampler(d, batch_seconds=50.0, seed=2, rank=1, world_size=world).batches(4)
    assert again == shares[1], "deterministic"
    # ranks of one step draw from the same bucket, so they wait little for each other
    spread = [max(d[s[k]].max() for s in shares) / min(d[s[k]].max() for s in shares) for k in range(len(shares[0]))]
    assert np.median(spread) < 1.2


def test_indices_restrict_batches_to_usable_items():
    keep = np.array([0, 2, 3, 7, 9, 11])
    s = DurationBatchSampler(np.ones(len(keep)), batch_size=2, indices=keep, shuffle=False)
    assert sorted(i for b in s for i in b) == keep.tolist()


def test_sampler_resumes_mid_epoch_without_replaying():
    d = durations(120)
    s = DurationBatchSampler(d, batch_seconds=30.0, seed=9)
    s.set_epoch(2)
    it = iter(s)
    head = [next(it) for _ in range(5)]
    state = s.state_dict()
    assert state == {"epoch": 2, "batches_consumed": 5, "seed": 9}
    t = DurationBatchSampler(d, batch_seconds=30.0, seed=9)
    t.load_state_dict(state)
    assert head + list(t) == s.batches(2)
    with pytest.raises(ValueError, match="seed"):
        DurationBatchSampler(d, batch_seconds=30.0, seed=1).load_state_dict(state)


class _Ids(torch.utils.data.Dataset):
    def __len__(self):
        return 40

    def __getitem__(self, i):
        return {"utt_id": f"u{i}", "speech": np.full(100 + i, 0.1, dtype=np.float32)}


class _Echo:
    def __call__(self, item, epoch=0):
        return {"utt_id": item["utt_id"], "epoch": epoch}


@pytest.mark.parametrize("workers", [0, 1])
def test_loader_advances_epochs_and_restores_its_place(workers):
    def loader():
        s = DurationBatchSampler(np.arange(40) / 10 + 1, batch_size=4, seed=0)
        return BatchLoader(PipelineDataset(_Ids(), _Echo()), s, collate_fn=lambda b: b, num_workers=workers)

    a = loader()
    epoch0 = [[x["utt_id"] for x in b] for b in a]
    assert {x["epoch"] for b in a for x in b} == {1}, "the second iter() is epoch 1"
    it = iter(a)
    head = [[x["utt_id"] for x in next(it)] for _ in range(3)]
    state = a.state_dict()
    assert state["epoch"] == 2 and state["batches_consumed"] == 3
    b = loader()
    b.load_state_dict(state)
    rest = [[x["utt_id"] for x in batch] for batch in b]
    full = [[f"u{i}" for i in batch] for batch in a.durations_sampler.batches(2)]
    assert head + rest == full and head != epoch0[:3]
    assert b.state_dict() == {"epoch": 3, "batches_consumed": 0, "seed": 0}
    # Lightning checkpoints after the last batch, before the iterator is exhausted: that is the next epoch
    c = loader()
    it = iter(c)
    for _ in range(len(c)):
        next(it)
    assert c.state_dict() == {"epoch": 1, "batches_consumed": 0, "seed": 0}
