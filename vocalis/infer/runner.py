"""InferenceRunner: the items of one shard -> model -> output_fn -> records written as scp fragments.

Where shards run (in this process or on Dask workers) and how they are resumed is
:mod:`vocalis.infer.sharded`'s business; this class only turns items into outputs.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import numpy as np
import torch

from vocalis.config.instantiate import import_target
from vocalis.data.audio import AudioError
from vocalis.infer.artifacts import ArtifactWriter
from vocalis.infer.shards import Shard, ShardStore

log = logging.getLogger(__name__)


def split_batch_output(output: Any, size: int, model_name: str) -> list[Any]:
    """Per-item outputs of a batched model call (a list/tuple of ``size``, or a tensor/array batch)."""
    if isinstance(output, (list, tuple)) and len(output) == size:
        return list(output)
    if isinstance(output, (torch.Tensor, np.ndarray)) and output.shape[0] == size:
        return list(output)
    raise TypeError(f"{model_name} was called with a batch of {size} but returned "
                    f"{type(output).__name__}{getattr(output, 'shape', '')}; return one output per item "
                    "(a list of length batch size) or set batch_size: null")


def is_out_of_memory(err: BaseException) -> bool:
    return isinstance(err, RuntimeError) and "out of memory" in str(err)


class InferenceRunner:
    """Run a model over items and format each result with ``output_fn``.

    Args:
        provider: builds the dataset and the model (see InferenceProvider).
        input_key: dataset field(s) passed to the model as keyword arguments.
        output_fn: dotted path of ``fn(*, data, model_output, idx) -> dict``.
        output_keys: fields to write; default: every key of the first result but ``idx_key``.
        idx_key: the field holding the utterance id (first scp column).
        batch_size: items per model call (the model then gets lists), or None for one at a time.
            A batch that runs out of memory is halved and retried, down to single items.
        output_artifacts: writers for non-scalar fields, see :mod:`vocalis.infer.artifacts`.
    """

    def __init__(self, provider: Any, input_key: str | list[str], output_fn: str, output_keys: list[str] | None,
                 idx_key: str = "utt_id", batch_size: int | None = None,
                 output_artifacts: dict[str, dict] | None = None):
        self.provider = provider
        self.input_keys = [input_key] if isinstance(input_key, str) else list(input_key)
        if not self.input_keys:
            raise ValueError("input_key is empty; name the dataset field(s) the model takes, e.g. input_key: speech")
        self.output_fn: Callable = import_target(output_fn, "output_fn")
        self.output_keys, self.idx_key = (list(output_keys) if output_keys else None), idx_key
        if batch_size is not None and int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1 or null, got {batch_size}")
        self.batch_size = None if batch_size is None else int(batch_size)
        self.output_artifacts = dict(output_artifacts or {})

    def _inputs(self, items: list[dict], batched: bool) -> dict:
        missing = [k for k in self.input_keys if k not in items[0]]
        if missing:
            raise KeyError(f"input_key {missing} not in the items of utterance {items[0].get(self.idx_key)} "
                           f"(fields: {sorted(items[0])}); fix input_key in inference.yaml")
        return {k: [it[k] for it in items] if batched else items[0][k] for k in self.input_keys}

    def forward(self, model: Any, items: list[dict]) -> list[Any]:
        """One model output per item; a batch that runs out of memory is split in two and retried."""
        if self.batch_size is None:
            return [model(**self._inputs([item], batched=False)) for item in items]
        try:
            output = model(**self._inputs(items, batched=True))
        except RuntimeError as err:
            if not is_out_of_memory(err):
                raise
            ids = [it.get(self.idx_key) for it in items]
            if len(items) == 1:
                raise RuntimeError(f"utterance {ids[0]} does not fit in memory even alone ({err}); use a smaller "
                                   "model or device, or leave it out of the test set") from err
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            half = len(items) // 2
            log.warning("out of memory on a batch of %d (%s ... %s); retrying as %d + %d", len(items), ids[0],
                        ids[-1], half, len(items) - half)
            return self.forward(model, items[:half]) + self.forward(model, items[half:])
        return split_batch_output(output, len(items), type(model).__name__)

    def _record(self, item: dict, output: Any, index: int) -> dict:
        result = self.output_fn(data=item, model_output=output, idx=index)
        if not isinstance(result, dict) or self.idx_key not in result:
            raise TypeError(f"output_fn returned {type(result).__name__} for item {index}; it must return a dict "
                            f"with {self.idx_key!r} (e.g. {{'utt_id': ..., 'hyp': ..., 'ref': ...}})")
        return result

    @staticmethod
    def _load_items(dataset: Any, indices: range, shard: Shard, bad: dict[str, str]) -> tuple[list[int], list[dict]]:
        """Items that load; an unreadable audio file is recorded in ``bad`` (id -> reason) and skipped,
        so one bad file does not lose the rest of the run."""
        kept, items = [], []
        for i in indices:
            try:
                items.append(dataset[i])
                kept.append(i)
            except AudioError as err:
                utt_id = shard.ids[i - shard.start]
                log.warning("skipping utterance %s: %s", utt_id, err)
                bad[utt_id] = str(err)
        return kept, items

    def fields(self, record: dict) -> list[str]:
        return self.output_keys or [k for k in record if k != self.idx_key]

    def infer_shard(self, dataset: Any, model: Any, shard: Shard, store: ShardStore, sample_rate: int) -> dict:
        """Infer items ``shard.start:shard.stop`` and write the shard; returns what its marker records."""
        start, audio_seconds = time.perf_counter(), 0.0
        artifacts = ArtifactWriter(self.output_artifacts, store.out_dir)
        step = self.batch_size or 1
        records: list[dict] = []
        bad: dict[str, str] = {}
        for lo in range(shard.start, shard.stop, step):
            indices, items = self._load_items(dataset, range(lo, min(lo + step, shard.stop)), shard, bad)
            if not items:
                continue
            audio_seconds += sum(len(it.get("speech", ())) for it in items) / sample_rate
            for index, item, output in zip(indices, items, self.forward(model, items)):
                records.append(self._record(item, output, index))
        fields = self.fields(records[0]) if records else None  # None: every utterance was unreadable
        for record in records:
            utt_id = str(record[self.idx_key])
            missing = [f for f in fields if f not in record]
            if missing:
                raise KeyError(f"output_fn gave utterance {utt_id} no {missing}; every result needs the fields "
                               f"{fields} (set output_keys to choose them)")
            for field in fields:
                record[field] = artifacts(field, record[field], utt_id)
        info = {"audio_seconds": round(audio_seconds, 3), "compute_seconds": round(time.perf_counter() - start, 3),
                "bad_utts": bad}
        store.write_shard(shard, records, fields, self.idx_key, **info)
        return info
