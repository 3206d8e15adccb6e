"""Dask clusters for inference: ``parallel:`` in inference.yaml.

    parallel: null                           # shards run one after another in this process
    parallel: {env: local, n_workers: 2}     # a LocalCluster of worker processes on this machine
    parallel:                                # SLURM jobs through dask-jobqueue
      env: slurm
      n_workers: 8
      options: {queue: gpu, account: me, cores: 4, memory: 16GB, walltime: "02:00:00",
                job_extra_directives: ["--gres=gpu:1"]}

One cluster serves every test set of a run. Workers are single-threaded processes (one shard
at a time); each sets ``torch.set_num_threads(torch_threads)`` before its first shard, so give
SLURM jobs ``options.cores`` equal to ``torch_threads``. (Importing this
module imports dask.distributed; :mod:`vocalis.infer.parallel_config` checks the block
without it.)
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Iterator

from dask.distributed import Client, LocalCluster, WorkerPlugin

log = logging.getLogger(__name__)


def build_local_cluster(n_workers: int, options: dict[str, Any] | None = None) -> Any:
    """Worker processes on the loopback interface, one thread each, no dashboard.

    The scheduler's plain HTTP endpoints (health, metrics) take an ephemeral loopback port,
    never 8787, so concurrent runs do not collide.
    """
    kwargs = {"n_workers": n_workers, "threads_per_worker": 1, "processes": True, "host": "127.0.0.1",
              "dashboard_address": None, "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
              "silence_logs": logging.WARNING}
    kwargs.update(options or {})
    return LocalCluster(**kwargs)


def build_slurm_cluster(options: dict[str, Any]) -> Any:
    """A dask-jobqueue SLURMCluster; each SLURM job runs single-threaded worker processes.

    ``options.cores`` books CPUs per job (``--cpus-per-task``) and does not become task threads:
    a worker decodes one shard at a time, its torch using ``parallel.torch_threads`` of them
    (dask-jobqueue's ``cores: 4`` alone would run four shards at once in one process, each
    loading the model). No job is submitted until the cluster is scaled (see :func:`dask_client`).
    """
    from dask_jobqueue import SLURMCluster

    kwargs: dict[str, Any] = {"cores": 1, "processes": 1, "memory": "4GB"}
    kwargs.update(options)
    if "job_cpu" not in options and int(kwargs["cores"]) > int(kwargs["processes"]):
        kwargs["job_cpu"], kwargs["cores"] = int(kwargs["cores"]), int(kwargs["processes"])
    scheduler = dict(kwargs.pop("scheduler_options", None) or {})
    scheduler.setdefault("dashboard_address", None)
    return SLURMCluster(scheduler_options=scheduler, **kwargs)


def build_cluster(cfg: dict) -> Any:
    """The cluster a checked ``parallel`` block describes (not yet scaled for SLURM)."""
    if cfg["env"] == "local":
        return build_local_cluster(cfg["n_workers"], cfg["options"])
    return build_slurm_cluster(cfg["options"])


class TorchThreads(WorkerPlugin):
    """Worker plugin: set torch's intra-op threads (and one numpy BLAS thread) once per worker process."""

    name = "vocalis-torch-threads"

    def __init__(self, threads: int):
        self.threads = threads

    def setup(self, worker: Any) -> None:
        import torch

        from vocalis.cpu_threads import limit_numpy_blas

        torch.set_num_threads(self.threads)
        limit_numpy_blas()


@contextmanager
def dask_client(cfg: dict) -> Iterator[Client]:
    """A Dask client on the cluster of ``cfg`` (a block checked by ``check_parallel``); closed on exit."""
    dask_log = logging.getLogger("distributed")
    old_level = dask_log.level
    dask_log.setLevel(logging.WARNING)  # the scheduler's INFO chatter would bury the stage log
    cluster = None
    try:
        cluster = build_cluster(cfg)
        if cfg["env"] != "local":
            cluster.scale(cfg["n_workers"])
        with Client(cluster) as client:
            client.register_plugin(TorchThreads(cfg["torch_threads"]), name=TorchThreads.name)
            log.info("dask: %s cluster with %d worker(s), %d torch thread(s) each", cfg["env"], cfg["n_workers"],
                     cfg["torch_threads"])
            yield client
    finally:
        if cluster is not None:
            cluster.close()
        dask_log.setLevel(old_level)
