"""The CPU thread pools of a Vocalis process: torch's OpenMP pool and numpy's OpenBLAS pool.

numpy ships its own OpenBLAS with one thread per core, and those threads busy-wait for a
while after every call. A numpy matrix product (the polyphase filter of speed perturbation,
a recipe's own dataset code) then leaves them spinning on the cores torch's threads need.
On the 2-core machine that made the digits training loader 3.2x slower in a 2-thread process
(498 vs 155 ms a batch of 32) and, with one loader worker, a training step of
``training_conformer_aug.yaml`` 1.4x slower (1.03 vs 0.74 s). Vocalis does its heavy
arithmetic in torch, so numpy's BLAS gets one thread in every process that runs stages or
serves as a worker; torch's own pool is set separately (all cores in the main process, one
in a worker).
"""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_limits


def limit_numpy_blas() -> None:
    """One thread for numpy's (and scipy's) BLAS in this process, from now on."""
    threadpool_limits(limits=1, user_api="blas")


def single_threaded_worker(_: object = None) -> None:
    """A worker process's setup: one torch thread and one BLAS thread, so ``n`` workers use
    ``n`` cores. Takes (and ignores) the worker id, so it serves as a ``worker_init_fn``."""
    torch.set_num_threads(1)
    limit_numpy_blas()
