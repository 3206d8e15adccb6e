"""Infer one test set in resumable shards, in this process or on a Dask client.

1. plan shards from the test set's ids (see :mod:`vocalis.infer.shards`);
2. refuse shards of another config/checkpoint/test set (``StaleOutputsError``);
3. run the shards that are not done, one after another or as Dask tasks;
4. assemble ``<field>.scp`` in dataset order and check each id occurs once;
5. write ``infer_stats.json`` (audio seconds, wall seconds, RTF).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vocalis.infer.scp import read_scp
from vocalis.infer.session import dataset_sample_rate, utterance_ids
from vocalis.infer.shards import ShardStore, plan_shards
from vocalis.infer.worker import ShardJob, prepare_worker, run_shard_job

log = logging.getLogger(__name__)
MAX_BAD_FRACTION = 0.5  # more unreadable test utterances than this: the test set itself is broken


@dataclass
class TestSetRun:
    """One test set to infer: where, under which fingerprint, and the config workers rebuild."""

    name: str
    out_dir: Path
    fingerprint: str
    config: dict
    recipe_dir: str
    session_key: str
    shard_size: int
    overwrite: bool = False


def _run_here(provider: Any, runner: Any, jobs: list[ShardJob], store: ShardStore, dataset: Any) -> list[dict]:
    model, rate = provider.build_model(), dataset_sample_rate(dataset)
    return [runner.infer_shard(dataset, model, job.shard, store, rate)
            for job in tqdm(jobs, desc=f"infer {jobs[0].test_name}", unit="shard", leave=False)]


def _prepare_workers(client: Any, job: ShardJob) -> None:
    """Load the model on every connected worker at once, rather than each at its first shard."""
    workers = list(client.scheduler_info()["workers"])
    futures = [client.submit(prepare_worker, job, workers=[w], allow_other_workers=False, pure=False)
               for w in workers]
    client.gather(futures)


def _run_on_dask(client: Any, jobs: list[ShardJob]) -> list[dict]:
    from dask.distributed import as_completed

    _prepare_workers(client, jobs[0])  # a no-op where this config's session is already built
    futures = client.map(run_shard_job, jobs, pure=False)
    try:
        for future in tqdm(as_completed(futures), total=len(futures), desc=f"infer {jobs[0].test_name}",
                           unit="shard", leave=False):
            future.result()  # re-raises a worker's error here, with its traceback
    except BaseException:
        client.cancel(futures)
        raise
    return [f.result() for f in futures]


def check_assembled(out_dir: Path, fields: list[str], ids: list[str]) -> None:
    """Every field file holds each id exactly once, in dataset order."""
    for field in fields:
        found = list(read_scp(out_dir / f"{field}.scp"))  # duplicates raise here
        if found != ids:
            missing = sorted(set(ids) - set(found))[:5]
            raise RuntimeError(f"{out_dir / (field + '.scp')}: ids differ from the test set (missing {missing}, "
                               f"{len(found)} found, {len(ids)} expected); delete {out_dir} and run infer again")


def _report_bad(run: Any, bad: dict[str, str], total: int) -> None:
    """List skipped (unreadable) utterances in ``<test>/bad_utts``; too many is an error."""
    path = run.out_dir / "bad_utts"
    if not bad:
        path.unlink(missing_ok=True)
        return
    path.write_text("".join(f"{u}\t{reason}\n" for u, reason in bad.items()), encoding="utf-8")
    log.warning("%s: %d of %d utterances were unreadable and are not scored; see %s", run.name, len(bad), total, path)
    if len(bad) > MAX_BAD_FRACTION * total:
        raise RuntimeError(f"{run.name}: {len(bad)} of {total} utterances are unreadable (see {path}); more than "
                           f"{MAX_BAD_FRACTION:.0%} means the test set itself is broken: fix its audio paths")


def infer_test_set(run: TestSetRun, provider: Any, runner: Any, client: Any = None) -> dict:
    """Infer the shards of ``run`` that are not done yet, assemble the scp files; returns the stats."""
    start = time.perf_counter()
    dataset = provider.build_dataset(run.name)
    if len(dataset) == 0:
        raise ValueError(f"test set {run.name!r} is empty")
    ids = utterance_ids(dataset, runner.idx_key)
    shards = plan_shards(ids, run.shard_size)
    store = ShardStore(run.out_dir, run.fingerprint)
    store.open(shards, overwrite=run.overwrite)
    pending = [s for s in shards if not store.is_done(s)]
    if len(pending) < len(shards):
        log.info("%s: resuming, %d of %d shards already done", run.name, len(shards) - len(pending), len(shards))
    jobs = [ShardJob(run.config, run.recipe_dir, run.session_key, run.name, str(run.out_dir), run.fingerprint, s)
            for s in pending]
    if jobs:
        _run_on_dask(client, jobs) if client is not None else _run_here(provider, runner, jobs, store, dataset)
    fields = store.assemble(shards)
    infos = [store.info(s) for s in shards]
    bad = {u: reason for i in infos for u, reason in (i.get("bad_utts") or {}).items()}
    check_assembled(run.out_dir, fields, [u for u in ids if u not in bad])
    _report_bad(run, bad, len(ids))
    wall = time.perf_counter() - start
    done_now = {s.index for s in pending}
    audio_now = sum(i["audio_seconds"] for s, i in zip(shards, infos) if s.index in done_now)
    stats = {"utterances": len(ids), "audio_seconds": round(sum(i["audio_seconds"] for i in infos), 3),
             "wall_seconds": round(wall, 3), "rtf": round(wall / audio_now, 5) if audio_now else None,
             "shards": len(shards), "shards_resumed": len(shards) - len(pending),
             "compute_seconds": round(sum(i["compute_seconds"] for i in infos), 3), "skipped_unreadable": len(bad)}
    tmp = run.out_dir / "infer_stats.json.partial"
    tmp.write_text(json.dumps(stats, indent=1))
    os.replace(tmp, run.out_dir / "infer_stats.json")
    return stats
