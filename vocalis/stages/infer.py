"""Stage infer: provider -> runner -> output_fn -> ``<inference_dir>/<test>/<field>.scp``.

Each test set is inferred in resumable shards (:mod:`vocalis.infer.sharded`); one Dask
cluster (``parallel:``) serves every test set of the run. A test set whose outputs match
this config and checkpoint is skipped; outputs of another config are never mixed in.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from vocalis.config.loading import to_plain
from vocalis.infer.parallel_config import check_parallel
from vocalis.infer.session import build_session, inference_fingerprint
from vocalis.infer.sharded import TestSetRun, infer_test_set
from vocalis.infer.shards import ShardStore, StaleOutputsError
from vocalis.stages.context import RunContext
from vocalis.stages.markers import DoneMarker, fingerprint

log = logging.getLogger(__name__)


def _client(parallel: dict | None) -> contextlib.AbstractContextManager:
    if parallel is None:
        return contextlib.nullcontext()
    from vocalis.infer.parallel import dask_client

    return dask_client(parallel)


def _pending_runs(cfg, provider, recipe_dir: Path) -> list[TestSetRun]:
    """Test sets whose outputs are not up to date; a finished test set of another config is refused."""
    config, runs = to_plain(cfg), []
    session_key = fingerprint({k: v for k, v in config.items() if k not in ("parallel", "overwrite")})
    for name in provider.test_names():
        out_dir = Path(cfg.inference_dir) / name
        entry = next(e for e in cfg.dataset.test if e.name == name)
        fp = inference_fingerprint(cfg, entry, provider.build_dataset(name))
        marker = DoneMarker(out_dir, "infer")
        if marker.matches(fp):
            log.info("%s: outputs are up to date with this config and checkpoint, skipping", name)
            continue
        if marker.read() is not None and not cfg.overwrite:
            hint = ShardStore(out_dir, fp).start_over_hint()
            raise StaleOutputsError(f"{out_dir} holds outputs of a different inference config, model checkpoint "
                                    f"or test data (manifest rows). {hint}")
        runs.append(TestSetRun(name, out_dir, fp, config, str(recipe_dir), session_key, int(cfg.shard_size),
                               bool(cfg.overwrite)))
    return runs


def run(ctx: RunContext) -> dict:
    cfg = ctx.config("inference", "infer")
    parallel = check_parallel(to_plain(cfg.parallel) if cfg.parallel is not None else None)
    provider, runner = build_session(cfg, ctx.recipe_dir)
    runs = _pending_runs(cfg, provider, ctx.recipe_dir)
    results = {}
    if not runs:
        return results
    with _client(parallel) as client:
        for test in runs:
            DoneMarker(test.out_dir, "infer").clear()
            stats = infer_test_set(test, provider, runner, client)
            log.info("%s: %d utterances, %.1f s of audio in %.1f s (RTF %s, %d of %d shards resumed)", test.name,
                     stats["utterances"], stats["audio_seconds"], stats["wall_seconds"], stats["rtf"],
                     stats["shards_resumed"], stats["shards"])
            DoneMarker(test.out_dir, "infer").write(test.fingerprint)
            results[test.name] = stats
    return results
