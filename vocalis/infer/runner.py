"""InferenceRunner: dataset items -> model -> output_fn -> one ``<field>.scp`` per output field."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm import tqdm

from vocalis.config.instantiate import import_target
from vocalis.infer.scp import write_scp

log = logging.getLogger(__name__)
SCALARS = (str, int, float, bool)


def split_batch_output(output: Any, size: int, model_name: str) -> list[Any]:
    """Per-item outputs of a batched model call (a list/tuple of ``size``, or a tensor/array batch)."""
    if isinstance(output, (list, tuple)) and len(output) == size:
        return list(output)
    if isinstance(output, (torch.Tensor, np.ndarray)) and output.shape[0] == size:
        return list(output)
    raise TypeError(f"{model_name} was called with a batch of {size} but returned "
                    f"{type(output).__name__}{getattr(output, 'shape', '')}; return one output per item "
                    "(a list of length batch size) or set batch_size: null")


class InferenceRunner:
    """Run a model over a test set in dataset order and write the outputs.

    Args:
        provider: builds the dataset and the model (see InferenceProvider).
        input_key: dataset field(s) passed to the model as keyword arguments.
        output_fn: dotted path of ``fn(*, data, model_output, idx) -> dict``.
        output_keys: fields to write; default: every key of the first result but ``idx_key``.
        idx_key: the field holding the utterance id (first scp column).
        batch_size: items per model call (the model then gets lists), or None for one at a time.
    """

    def __init__(self, provider: Any, input_key: str | list[str], output_fn: str, output_keys: list[str] | None,
                 idx_key: str = "utt_id", batch_size: int | None = None):
        self.provider = provider
        self.input_keys = [input_key] if isinstance(input_key, str) else list(input_key)
        self.output_fn: Callable = import_target(output_fn, "output_fn")
        self.output_keys, self.idx_key = output_keys, idx_key
        self.batch_size = batch_size

    def _check_result(self, result: Any, index: int) -> dict:
        if not isinstance(result, dict) or self.idx_key not in result:
            raise TypeError(f"output_fn returned {type(result).__name__} for item {index}; it must return a dict "
                            f"with {self.idx_key!r} (e.g. {{'utt_id': ..., 'hyp': ..., 'ref': ...}})")
        for key, value in result.items():
            if not isinstance(value, SCALARS):
                raise TypeError(f"output field {key!r} of utterance {result[self.idx_key]} is a "
                                f"{type(value).__name__}; scp fields must be str/int/float/bool")
        return result

    def _inputs(self, items: list[dict], batched: bool) -> dict:
        missing = [k for k in self.input_keys if k not in items[0]]
        if missing:
            raise KeyError(f"input_key {missing} not in the dataset item (fields: {sorted(items[0])})")
        return {k: [it[k] for it in items] if batched else items[0][k] for k in self.input_keys}

    def run(self, name: str, out_dir: str | Path) -> dict:
        """Infer test set ``name`` into ``out_dir``; returns throughput stats."""
        out_dir = Path(out_dir)
        dataset, model = self.provider.build_dataset(name), self.provider.build_model()
        if len(dataset) == 0:
            raise ValueError(f"test set {name!r} is empty")
        sample_rate = getattr(dataset.parts[0], "sample_rate", 16000) if hasattr(dataset, "parts") else 16000
        batched = self.batch_size is not None
        step = int(self.batch_size) if batched else 1
        results: list[dict] = []
        audio_seconds, start = 0.0, time.perf_counter()
        for lo in tqdm(range(0, len(dataset), step), desc=f"infer {name}", unit="batch", leave=False):
            items = [dataset[i] for i in range(lo, min(lo + step, len(dataset)))]
            audio_seconds += sum(len(it.get("speech", ())) for it in items) / sample_rate
            output = model(**self._inputs(items, batched))
            outputs = split_batch_output(output, len(items), type(model).__name__) if batched else [output]
            for k, (item, out) in enumerate(zip(items, outputs)):
                results.append(self._check_result(self.output_fn(data=item, model_output=out, idx=lo + k), lo + k))
        wall = time.perf_counter() - start
        keys = self.output_keys or [k for k in results[0] if k != self.idx_key]
        for key in keys:
            write_scp(out_dir / f"{key}.scp", ((str(r[self.idx_key]), r.get(key, "")) for r in results))
        stats = {"utterances": len(results), "audio_seconds": round(audio_seconds, 3),
                 "wall_seconds": round(wall, 3), "rtf": round(wall / audio_seconds, 5) if audio_seconds else None}
        tmp = out_dir / "infer_stats.json.partial"
        tmp.write_text(json.dumps(stats, indent=1))
        os.replace(tmp, out_dir / "infer_stats.json")
        return stats
