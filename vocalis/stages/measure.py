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


def run(ctx: RunContext) -> dict:
    cfg = ctx.config("metrics", "measure")
    inference_dir = Path(cfg.inference_dir)
    names = test_names(ctx, inference_dir)
    results: dict[str, dict] = {}
    for i, node in enumerate(cfg.metrics):
        metric = instantiate(node, f"metrics[{i}]")
        metric_name = getattr(metric, "name", None) or type(metric).__name__
        results[metric_name] = {name: metric(inference_dir, name) for name in names}
    throughput = {}
    for name in names:
        stats_file = inference_dir / name / "infer_stats.json"
        if stats_file.is_file():
            throughput[name] = json.loads(stats_file.read_text())
    if throughput:
        results["throughput"] = throughput
    write_metrics_json(inference_dir / "metrics.json", results)
    write_results_markdown(inference_dir / "results.md", results)
    log.info("wrote %s and %s:\n%s", inference_dir / "metrics.json", inference_dir / "results.md",
             (inference_dir / "results.md").read_text())
    return results
