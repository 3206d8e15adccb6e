"""Stage measure: score the scp files of every test set; write metrics.json and results.md."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from vocalis.config.instantiate import instantiate
from vocalis.metrics.report import write_metrics_json, write_results_markdown
from vocalis.stages.context import RunContext

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


def keep_earlier_scores(results: dict[str, dict], metrics_file: Path, names: list[str]) -> list[str]:
    """Add to ``results`` the scores ``metrics_file`` holds for test sets not measured now.

    Measuring one more test set (an ``inference.dataset.test=[...]`` override) must not drop
    the scores of the others. Kept: test sets whose folder (their scp files) is still next to
    ``metrics_file``, for metrics measured now. Returns the names kept.
    """
    if not metrics_file.is_file():
        return []
    earlier = json.loads(metrics_file.read_text(encoding="utf-8"))
    kept: list[str] = []
    for metric, per_test in earlier.items():
        if metric not in results or not isinstance(per_test, dict):
            continue
        for name, score in per_test.items():
            if name not in names and (metrics_file.parent / name).is_dir():
                results[metric][name] = score
                if name not in kept:
                    kept.append(name)
    return kept


def run(ctx: RunContext) -> dict:
    cfg = ctx.config("metrics", "measure")
    inference_dir = Path(cfg.inference_dir)
    names = test_names(ctx, inference_dir)
    results: dict[str, dict] = {}
    for i, node in enumerate(cfg.metrics):
        metric = instantiate(node, f"metrics[{i}]")
        metric_name = getattr(metric, "name", None) or type(metric).__name__
        if metric_name in results:
            raise ValueError(f"metrics[{i}] reports as {metric_name!r}, like an earlier metric, and would overwrite "
                             f"its scores and alignment file; give it its own name (e.g. name: {metric_name}_2)")
        results[metric_name] = {name: metric(inference_dir, name) for name in names}
    throughput = {}
    for name in names:
        stats_file = inference_dir / name / "infer_stats.json"
        if stats_file.is_file():
            throughput[name] = json.loads(stats_file.read_text())
    if throughput:
        results["throughput"] = throughput
    kept = keep_earlier_scores(results, inference_dir / "metrics.json", names)
    if kept:
        log.info("kept the earlier scores of %s (not measured in this run)", ", ".join(kept))
    write_metrics_json(inference_dir / "metrics.json", results)
    write_results_markdown(inference_dir / "results.md", results)
    log.info("wrote %s and %s:\n%s", inference_dir / "metrics.json", inference_dir / "results.md",
             (inference_dir / "results.md").read_text())
    return results
