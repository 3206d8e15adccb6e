"""The ``parallel:`` block of inference.yaml, checked without importing Dask.

``null`` (or ``env: null``) runs shards in this process; ``env: local`` on a Dask
LocalCluster; ``env: slurm`` on SLURM jobs through dask-jobqueue (``options`` are the
SLURMCluster's keyword arguments). See :mod:`vocalis.infer.parallel`.
"""

from __future__ import annotations

from typing import Any

PARALLEL_KEYS = {"env", "n_workers", "torch_threads", "options"}
ENVS = ("local", "slurm")


def check_parallel(cfg: dict[str, Any] | None) -> dict[str, Any] | None:
    """The block with defaults filled in (``n_workers`` 1, ``torch_threads`` 1), or None for in-process."""
    if cfg is None:
        return None
    unknown = set(cfg) - PARALLEL_KEYS
    if unknown:
        raise ValueError(f"inference.yaml parallel: unknown keys {sorted(unknown)}; known: {sorted(PARALLEL_KEYS)} "
                         "(on the command line write 'inference.parallel={env: local, n_workers: 2}' with spaces)")
    if cfg.get("env") in (None, "none"):
        settings = sorted(k for k, v in cfg.items() if k != "env" and v is not None)
        if "env" not in cfg and settings:  # n_workers: 4 alone would quietly run in this process
            raise ValueError(f"inference.yaml parallel: {settings} are set but parallel.env is not; set parallel.env: "
                             "local (a Dask LocalCluster) or slurm, or env: null to run in this process")
        return None
    if cfg["env"] not in ENVS:
        raise ValueError(f"inference.yaml parallel.env: {cfg['env']!r} is not one of {ENVS} "
                         "(or null to run in this process)")
    n_workers = int(1 if cfg.get("n_workers") is None else cfg["n_workers"])
    threads = int(1 if cfg.get("torch_threads") is None else cfg["torch_threads"])
    if n_workers < 1 or threads < 1:
        raise ValueError(f"inference.yaml parallel: n_workers and torch_threads must be >= 1, got {n_workers}, {threads}")
    return {"env": cfg["env"], "n_workers": n_workers, "torch_threads": threads, "options": dict(cfg.get("options") or {})}
