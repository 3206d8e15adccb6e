"""What runs one shard, on the driver or on a Dask worker.

A :class:`ShardJob` is plain data (the resolved config as a dict, paths, the shard), so it
pickles to any worker. Each worker process builds the provider, runner and model once per
config and keeps them for the following shards and test sets.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf

from vocalis.infer.shards import Shard, ShardStore

_SESSIONS: dict[str, tuple[Any, Any]] = {}
_SESSION_LOCK = threading.Lock()  # a worker given several task threads must still build one model


@dataclass(frozen=True)
class ShardJob:
    """Infer ``shard`` of test set ``test_name`` into ``out_dir`` with the config ``config``.

    ``session_key`` names the config (the same key, the same provider/runner/model);
    ``fingerprint`` is the test set's, stored in the shard's done marker.
    """

    config: dict
    recipe_dir: str
    session_key: str
    test_name: str
    out_dir: str
    fingerprint: str
    shard: Shard


def _session(job: ShardJob) -> tuple[Any, Any]:
    with _SESSION_LOCK:
        if job.session_key not in _SESSIONS:
            from vocalis.infer.session import build_session
            from vocalis.recipe import activate_recipe

            activate_recipe(job.recipe_dir)
            _SESSIONS.clear()  # one model per worker process at a time
            _SESSIONS[job.session_key] = build_session(OmegaConf.create(job.config), job.recipe_dir)
        return _SESSIONS[job.session_key]


def prepare_worker(job: ShardJob) -> str:
    """Build this worker's session (model included) ahead of its first shard; returns the session key."""
    _session(job)
    return job.session_key


def run_shard_job(job: ShardJob) -> dict:
    """Build (or reuse) this process's session and infer the job's shard; returns the shard's info."""
    from vocalis.infer.session import dataset_sample_rate

    provider, runner = _session(job)
    dataset = provider.build_dataset(job.test_name)
    store = ShardStore(job.out_dir, job.fingerprint)
    return runner.infer_shard(dataset, provider.build_model(), job.shard, store, dataset_sample_rate(dataset))
