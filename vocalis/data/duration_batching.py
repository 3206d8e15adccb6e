"""Dynamic batches by total seconds over duration buckets, seeded per epoch, split across DDP ranks.

How an epoch's batches are made (all of it a pure function of ``(seed, epoch)``):

1. Utterances are sorted by duration and cut into ``num_buckets`` buckets of equal size,
   so a batch only mixes similar lengths (little padding). With ``length_factors`` the
   durations are first scaled by that epoch's factors: speed perturbation draws a factor
   per utterance and epoch, and bucketing by the clean lengths pads ~20 % of a batch
   at factors 0.8-1.2 (~5 % when the buckets see the perturbed lengths).
2. Within a bucket the order is shuffled (train) and batches are packed greedily:
   with ``batch_seconds`` a batch grows while ``len(batch) * max(cost) <= batch_seconds``
   (the padded cost, which is what memory sees); with ``batch_size`` it has that many.
   ``cost = d + d**2 / quadratic_duration`` when a quadratic penalty is set (attention
   is quadratic in length: lhotse uses 15-40 s for transformers), else ``d``.
3. Batches are grouped ``world_size`` at a time from the same bucket, so the ranks of
   one step see similar lengths and wait little for each other; groups are shuffled
   and rank ``r`` takes the ``r``-th batch of every group. Every rank thus gets the same
   number of batches and the ranks' shares are disjoint. Leftover batches are split in
   two (largest first) until they fill a group; nothing is dropped unless fewer
   utterances than ranks remain.

Resuming: :meth:`state_dict` records ``(epoch, batches_consumed)``; after
:meth:`load_state_dict` the next iteration rebuilds that epoch's plan (sorting only, no
audio is read) and starts after the consumed batches, instead of replaying the epoch.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

__all__ = ["DurationBatchSampler", "padding_fraction"]

log = logging.getLogger(__name__)


def _dist_rank_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def padding_fraction(batches: Sequence[Sequence[int]], lengths: Sequence[float]) -> float:
    """Share of a padded epoch that is padding: ``1 - sum(len) / sum(B * max len)``."""
    lengths = np.asarray(lengths, dtype=np.float64)
    used = padded = 0.0
    for batch in batches:
        lens = lengths[list(batch)]
        used += float(lens.sum())
        padded += float(len(lens) * lens.max())
    return 1.0 - used / padded if padded else 0.0


class DurationBatchSampler(Sampler[list[int]]):
    """Batches of dataset indices, by seconds (``batch_seconds``) or by count (``batch_size``).

    Args:
        durations: seconds per item, shape ``(N,)`` (from collect_stats' feats_shape or a
            dataset's ``durations()``).
        batch_seconds: padded seconds per batch (per rank); exclusive with ``batch_size``.
        batch_size: items per batch.
        num_buckets: duration buckets (1 = random batches when shuffling). icefall uses 30.
        quadratic_duration: seconds at which the quadratic term equals the linear one, or None.
        max_batch_size: upper limit on items per batch in ``batch_seconds`` mode.
        shuffle: shuffle within buckets and the order of batch groups, seeded by ``(seed, epoch)``.
        seed: base seed.
        indices: the dataset indices to batch (default ``range(N)``); ``durations`` are theirs.
        rank / world_size: this process's share; default from ``torch.distributed`` when it is
            initialised (looked up at iteration time, after the launcher set it up), else 0 / 1.
        length_factors: ``epoch -> (N,)`` multipliers of ``durations`` for that epoch (e.g.
            :meth:`vocalis.data.augment.Augmentation.length_factors`); must be a pure function of
            the epoch, so resuming and every DDP rank rebuild the same plan.

    Advice: start with ``batch_seconds`` around 200 for ~30 M-parameter models on a 32 GB GPU
    (icefall's ``--max-duration``), raise it with mixed precision; keep ``num_buckets``
    at 10-30 so each bucket still holds many batches.
    """

    def __init__(self, durations: Sequence[float], batch_seconds: float | None = None, batch_size: int | None = None,
                 num_buckets: int = 30, quadratic_duration: float | None = None, max_batch_size: int | None = None,
                 shuffle: bool = True, seed: int = 0, indices: Sequence[int] | None = None,
                 rank: int | None = None, world_size: int | None = None,
                 length_factors: Callable[[int], np.ndarray] | None = None):
        if (batch_seconds is None) == (batch_size is None):
            raise ValueError("give exactly one of dataloader.batch_seconds (dynamic batches) and "
                             f"dataloader.batch_size (fixed), got batch_seconds={batch_seconds}, batch_size={batch_size}")
        if batch_seconds is not None and batch_seconds <= 0:
            raise ValueError(f"dataloader.batch_seconds must be positive, got {batch_seconds}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"dataloader.batch_size must be >= 1, got {batch_size}")
        if num_buckets < 1:
            raise ValueError(f"dataloader.num_buckets must be >= 1, got {num_buckets}")
        if quadratic_duration is not None and quadratic_duration <= 0:
            raise ValueError(f"dataloader.quadratic_duration must be positive seconds, got {quadratic_duration}")
        self.durations = np.asarray(durations, dtype=np.float64)
        self.indices = np.arange(len(self.durations)) if indices is None else np.asarray(indices, dtype=np.int64)
        if len(self.indices) != len(self.durations):
            raise ValueError(f"{len(self.indices)} indices but {len(self.durations)} durations")
        if len(self.durations) == 0:
            raise ValueError("no utterances to batch: the split is empty (or every utterance was skipped)")
        self.batch_seconds, self.batch_size = batch_seconds, batch_size
        self.num_buckets, self.quadratic_duration, self.max_batch_size = num_buckets, quadratic_duration, max_batch_size
        self.shuffle, self.seed = shuffle, int(seed)
        self._rank, self._world_size = rank, world_size
        self.length_factors = length_factors
        self.epoch, self.batches_consumed, self._skip = 0, 0, 0
        self._cache: tuple[tuple[int, int, int], list[list[int]]] | None = None

    # ----------------------------------------------------------------- plan
    @property
    def rank_world(self) -> tuple[int, int]:
        if self._rank is not None or self._world_size is not None:
            rank, world = int(self._rank or 0), int(self._world_size or 1)
        else:
            rank, world = _dist_rank_world()
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} is outside world_size {world}")
        return rank, world

    def cost(self, seconds: np.ndarray) -> np.ndarray:
        """Batch budget used by utterances of ``seconds`` (quadratic penalty included)."""
        if self.quadratic_duration is None:
            return seconds
        return seconds + seconds**2 / self.quadratic_duration

    def items_per_batch(self) -> float:
        """Typical number of items in a batch (for sizing buckets)."""
        if self.batch_size is not None:
            return float(self.batch_size)
        per = self.batch_seconds / max(float(np.mean(self.cost(self.durations))), 1e-9)
        return max(1.0, min(per, float(self.max_batch_size or per)))

    def epoch_durations(self, epoch: int) -> np.ndarray:
        """``(N,)`` seconds of each item in ``epoch``: ``durations`` times that epoch's length factors."""
        if self.length_factors is None:
            return self.durations
        factors = np.asarray(self.length_factors(epoch), dtype=np.float64)
        if factors.shape != self.durations.shape:
            raise ValueError(f"length_factors({epoch}) gave shape {factors.shape}, expected {self.durations.shape}")
        return self.durations * factors

    def _buckets(self, durations: np.ndarray) -> list[np.ndarray]:
        """Positions into ``self.indices`` sorted by ``durations``, cut into equal-size buckets.

        A bucket holds at least two batches' worth of items, so few batches are partial.
        """
        order = np.lexsort((self.indices, durations))
        count = min(self.num_buckets, max(1, int(len(order) // (2 * self.items_per_batch()))))
        return [b for b in np.array_split(order, count) if len(b)]

    def _pack(self, positions: np.ndarray, durations: np.ndarray) -> list[list[int]]:
        """Greedy batches over ``positions`` (in the given order)."""
        if self.batch_size is not None:
            return [positions[i:i + self.batch_size].tolist() for i in range(0, len(positions), self.batch_size)]
        costs = self.cost(durations[positions])
        batches, current, longest = [], [], 0.0
        for pos, c in zip(positions.tolist(), costs.tolist()):
            longest_if = max(longest, c)
            full = self.max_batch_size is not None and len(current) >= self.max_batch_size
            if current and (full or (len(current) + 1) * longest_if > self.batch_seconds):
                batches.append(current)
                current, longest_if = [], c
            current.append(pos)
            longest = longest_if
        if current:
            batches.append(current)
        return batches

    @staticmethod
    def _split_to_fill(batches: list[list[int]], world: int) -> list[list[int]]:
        """Split the largest batches in two until ``len(batches)`` is a multiple of ``world``."""
        batches = list(batches)
        while len(batches) % world:
            k = max(range(len(batches)), key=lambda i: (len(batches[i]), -i))
            if len(batches[k]) < 2:
                break
            half = len(batches[k]) // 2
            batches[k:k + 1] = [batches[k][:half], batches[k][half:]]
        return batches

    def _global_groups(self, epoch: int, world: int) -> list[list[list[int]]]:
        """Groups of ``world`` batches (positions) for ``epoch``; the group order is shuffled."""
        rng = np.random.default_rng([self.seed, epoch])
        durations = self.epoch_durations(epoch)
        groups, leftovers, tails = [], [], []
        buckets = self._buckets(durations) if self.shuffle else [np.lexsort((self.indices, durations))]
        for bucket in buckets:  # without shuffling, one sorted run packs tightest
            batches = self._pack(rng.permutation(bucket) if self.shuffle else bucket, durations)
            if self.batch_size is None or len(batches[-1]) < self.batch_size:
                tails += batches.pop()  # partial last batch: re-packed with the other buckets' tails
            full = len(batches) - len(batches) % world
            groups += [batches[i:i + world] for i in range(0, full, world)]
            leftovers += batches[full:]
        tails = np.asarray(tails, dtype=np.int64)
        if len(tails):
            leftovers += self._pack(tails[np.lexsort((self.indices[tails], durations[tails]))], durations)
        leftovers = self._split_to_fill(leftovers, world)
        full = len(leftovers) - len(leftovers) % world
        if full < len(leftovers):
            dropped = sum(len(b) for b in leftovers[full:])
            log.warning("duration batching: %d utterances dropped this epoch so that %d ranks get equal batch counts",
                        dropped, world)
        groups += [leftovers[i:i + world] for i in range(0, full, world)]
        if self.shuffle:
            groups = [groups[i] for i in rng.permutation(len(groups))]
        return groups

    def batches(self, epoch: int | None = None) -> list[list[int]]:
        """This rank's batches (dataset indices) for ``epoch`` (default: the current one)."""
        epoch = self.epoch if epoch is None else int(epoch)
        rank, world = self.rank_world
        key = (epoch, rank, world)
        if self._cache is None or self._cache[0] != key:
            mine = [group[rank] for group in self._global_groups(epoch, world)]
            self._cache = (key, [self.indices[b].tolist() for b in mine])
        return self._cache[1]

    # ------------------------------------------------------------ iteration
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose plan the next iteration plays (from its start)."""
        self.epoch, self._skip, self.batches_consumed = int(epoch), 0, 0

    def __len__(self) -> int:
        return len(self.batches())

    def __iter__(self) -> Iterator[list[int]]:
        batches, start = self.batches(), self._skip
        self._skip, self.batches_consumed = 0, start
        for k in range(start, len(batches)):
            self.batches_consumed = k + 1
            yield batches[k]

    def state_dict(self) -> dict:
        """``{"epoch", "batches_consumed", "seed"}``: enough to continue this epoch elsewhere."""
        return {"epoch": self.epoch, "batches_consumed": self.batches_consumed, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        """Continue ``state["epoch"]`` after its ``batches_consumed`` batches on the next iteration."""
        if int(state.get("seed", self.seed)) != self.seed:
            raise ValueError(f"batch sampler state was saved with seed {state['seed']}, this run uses {self.seed}; "
                             "resume with the same seed or start a new experiment")
        self.epoch, self.batches_consumed = int(state["epoch"]), int(state["batches_consumed"])
        self._skip = self.batches_consumed
