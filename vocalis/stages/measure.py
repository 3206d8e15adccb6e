"""Stage measure: score the scp files of every test set; write metrics.json and results.md."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from vocalis.atomic_files import write_text_atomically
from vocalis.config.instantiate import instantiate
from vocalis.config.loading import to_plain
from vocalis.metrics.report import write_metrics_json, write_results_markdown
from vocalis.stages.context import RunContext
from vocalis.stages.markers import file_fingerprint, fingerprint

log = logging.getLogger(__name__)


def test_names(ctx: RunContext, inference_dir: Path) -> list[str]:
    """``test_sets`` of metrics.yaml, else the inference config's test names, else the scored folders."""
    cfg = ctx.configs["metrics"]
    if cfg.get("test_sets"):
        return list(cfg.test_sets)
    inference = ctx.configs.get("inference")
    if inference is not None and inference.dataset.get("test"):
        return [str(e.name) for e in inference.dataset.test]
    names = sorted(p.name for p in inference_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if not names:
        raise FileNotFoundError(f"no test-set folders in {inference_dir}: run the infer stage first")
    return names


PROVENANCE_FILE = ".metrics_provenance.json"


def score_fingerprint(metric_node: dict, test_dir: Path, scp_digests: dict[Path, dict[str, str]]) -> str:
    """What decides a metric's score of a test set: its settings and the bytes of the folder's scp files.

    ``scp_digests`` caches each folder's file digests for one measure run, which fingerprints every
    folder once per metric."""
    if test_dir not in scp_digests:
        scp_digests[test_dir] = {p.name: file_fingerprint(p) for p in sorted(test_dir.glob("*.scp"))}
    return fingerprint(metric_node, scp_digests[test_dir])


def keep_earlier_scores(results: dict[str, dict], provenance: dict[str, dict], inference_dir: Path,
                        names: list[str], nodes: dict[str, dict], scp_digests: dict[Path, dict[str, str]]) -> list[str]:
    """Add to ``results`` the scores ``metrics.json`` holds for test sets not measured now.

    Measuring one more test set (an ``inference.dataset.test=[...]`` override) must not drop
    the scores of the others. Kept: scores of metrics measured now (``nodes``: name -> settings)
    whose test-set folder is still there and whose settings and scp files are those they were
    measured with (``.metrics_provenance.json``); ``provenance`` gets their fingerprints.
    A score measured otherwise (another ``case:``, a re-decoded hyp.scp) is dropped and logged.
    Returns the names kept.
    """
    metrics_file = inference_dir / "metrics.json"
    if not metrics_file.is_file():
        return []
    earlier = json.loads(metrics_file.read_text(encoding="utf-8"))
    measured_with = _read_provenance(inference_dir)
    kept: list[str] = []
    for metric, per_test in earlier.items():
        if metric not in nodes or not isinstance(per_test, dict):
            continue
        for name, score in per_test.items():
            test_dir = inference_dir / name
            if name in names or not test_dir.is_dir():
                continue
            fp = score_fingerprint(nodes[metric], test_dir, scp_digests)
            if measured_with.get(metric, {}).get(name) != fp:
                log.warning("dropped the earlier %s score of %s: it was measured with other metric settings or "
                            "other scp files; measure %s again to score it", metric, name, name)
                continue
            results[metric][name], provenance[metric][name] = score, fp
            if name not in kept:
                kept.append(name)
    return kept


def _read_provenance(inference_dir: Path) -> dict:
    path = inference_dir / PROVENANCE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def run(ctx: RunContext) -> dict:
    cfg = ctx.config("metrics", "measure")
    inference_dir = Path(cfg.inference_dir)
    names = test_names(ctx, inference_dir)
    results: dict[str, dict] = {}
    nodes: dict[str, dict] = {}
    provenance: dict[str, dict] = {}
    scp_digests: dict[Path, dict[str, str]] = {}
    for i, node in enumerate(cfg.metrics):
        metric = instantiate(node, f"metrics[{i}]")
        metric_name = getattr(metric, "name", None) or type(metric).__name__
        if metric_name in results:
            raise ValueError(f"metrics[{i}] reports as {metric_name!r}, like an earlier metric, and would overwrite "
                             f"its scores and alignment file; give it its own name (e.g. name: {metric_name}_2)")
        nodes[metric_name] = to_plain(node)
        results[metric_name] = {name: metric(inference_dir, name) for name in names}
        provenance[metric_name] = {name: score_fingerprint(nodes[metric_name], inference_dir / name, scp_digests)
                                   for name in names}
    throughput = {}
    for name in names:
        stats_file = inference_dir / name / "infer_stats.json"
        if stats_file.is_file():
            throughput[name] = json.loads(stats_file.read_text())
    if throughput:
        results["throughput"] = throughput
    kept = keep_earlier_scores(results, provenance, inference_dir, names, nodes, scp_digests)
    if kept:
        log.info("kept the earlier scores of %s (not measured in this run)", ", ".join(kept))
    write_metrics_json(inference_dir / "metrics.json", results)
    write_text_atomically(inference_dir / PROVENANCE_FILE, json.dumps(provenance, indent=1) + "\n")
    write_results_markdown(inference_dir / "results.md", results)
    log.info("wrote %s and %s:\n%s", inference_dir / "metrics.json", inference_dir / "results.md",
             (inference_dir / "results.md").read_text())
    return results
