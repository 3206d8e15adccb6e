"""Shards on a real Dask LocalCluster: 1 and 2 workers write the same bytes; SLURM jobs are described right."""

import urllib.error
import urllib.request

import pytest

from vocalis.infer.parallel import build_local_cluster, build_slurm_cluster
from vocalis.infer.parallel_config import check_parallel
from vocalis.infer.scp import read_scp
from vocalis.stages.runner import run_stages

SETTINGS = "shard_size: 2\nbatch_size: 2\nparallel: {{env: local, n_workers: {n}}}\n"


def test_one_and_two_workers_write_identical_scp_files(trained_digits):
    outputs, logs = {}, {}
    for n in (1, 2):
        name = trained_digits.write_inference_config(f"inference_dask{n}", SETTINGS.format(n=n))
        stats = run_stages(trained_digits.path, ["infer"], trained_digits.config_files(name),
                           trained_digits.overrides)["infer"]
        assert stats["test"]["shards"] == 3 and stats["test_human"]["shards"] == 2
        folder = trained_digits.inference_dir(name)
        outputs[n] = {f"{t}/{f}": (folder / t / f"{f}.scp").read_bytes()
                      for t in ("test", "test_human") for f in ("hyp", "ref")}
        logs[n] = (folder / "infer.log").read_text()
    assert outputs[1] == outputs[2]
    assert len(read_scp(trained_digits.inference_dir("inference_dask2") / "test" / "hyp.scp")) == 6
    for n in (1, 2):  # one cluster for both test sets of the run
        assert logs[n].count("dask: local cluster") == 1 and f"{n} worker(s)" in logs[n]


def test_local_cluster_listens_on_loopback_without_dashboard():
    cluster = build_local_cluster(0)
    try:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        hosts_ports = [sock.getsockname() for sock in cluster.scheduler.http_server._sockets.values()]
        assert hosts_ports and all(host == "127.0.0.1" and port != 8787 for host, port in hosts_ports)
        port = hosts_ports[0][1]
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read() == b"ok"
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5)  # the dashboard page
    finally:
        cluster.close()


def test_slurm_cluster_and_job_script_from_the_config():
    parallel = check_parallel({"env": "slurm", "n_workers": 4, "options": {
        "queue": "gpu", "account": "speech", "cores": 2, "memory": "8GB", "walltime": "01:00:00",
        "job_extra_directives": ["--gres=gpu:1"], "scheduler_options": {"host": "127.0.0.1"}}})
    assert parallel["n_workers"] == 4 and parallel["torch_threads"] == 1
    cluster = build_slurm_cluster(parallel["options"])
    try:
        script = cluster.job_script()
        for line in ("#SBATCH -p gpu", "#SBATCH -A speech", "#SBATCH --cpus-per-task=2", "#SBATCH --mem=8G",
                     "#SBATCH -t 01:00:00", "#SBATCH --gres=gpu:1"):
            assert line in script.splitlines(), line
        # cores books the CPUs; the worker keeps one task thread (one shard, one model at a time)
        assert "distributed.cli.dask_worker tcp://127.0.0.1:" in script and "--nthreads 1 " in script
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert len(cluster.workers) == 0  # nothing submitted before the run scales it
    finally:
        cluster.close()


@pytest.mark.parametrize("block, message", [
    ({"env": "kube"}, "is not one of"),
    ({"env": "local", "n_worker": 2}, "unknown keys"),
    ({"env:local": None}, "unknown keys"),
    ({"env": "local", "n_workers": 0}, "must be >= 1"),
])
def test_parallel_block_errors_name_the_key(block, message):
    with pytest.raises(ValueError, match=message):
        check_parallel(block)


def test_no_parallel_block_runs_in_process():
    assert check_parallel(None) is None and check_parallel({"env": None}) is None
    with pytest.raises(ValueError, match=r"\['n_workers'\] are set but parallel.env is not; set parallel.env: local"):
        check_parallel({"n_workers": 4})  # would quietly have run in this process
