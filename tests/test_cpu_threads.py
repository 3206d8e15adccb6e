"""numpy's OpenBLAS pool gets one thread wherever Vocalis runs stages or workers (vocalis/cpu_threads.py)."""

import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from vocalis.cpu_threads import single_threaded_worker

RECIPE = Path(__file__).resolve().parents[1] / "egs3" / "digits" / "asr"


def blas_threads() -> list[int]:
    import numpy  # noqa: F401  (loads its OpenBLAS)
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


class _Threads(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> tuple[int, list[int]]:
        return torch.get_num_threads(), blas_threads()


def test_a_loader_worker_gets_one_torch_and_one_blas_thread():
    loader = DataLoader(_Threads(), batch_size=None, num_workers=1, worker_init_fn=single_threaded_worker)
    for torch_threads, blas in loader:
        assert torch_threads == 1
        assert blas and set(blas) == {1}


def test_running_stages_limits_blas_but_not_torch():
    """Checked in a fresh interpreter, where numpy's BLAS starts with one thread per core."""
    script = textwrap.dedent(f"""
        import torch
        from threadpoolctl import threadpool_info
        from vocalis.stages.runner import run_stages
        import numpy
        torch.set_num_threads(2)
        before = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        run_stages({str(RECIPE)!r}, ["train"], {{"training": {str(RECIPE / "conf/training.yaml")!r}}}, dry_run=True)
        after = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        print(before, after, torch.get_num_threads())
    """)
    env = {"OPENBLAS_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[2] [1] 2", out.stdout + out.stderr  # BLAS before, after; torch
