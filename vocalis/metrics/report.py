"""metrics.json and a Markdown results table next to it."""

from __future__ import annotations

import json
from pathlib import Path

from vocalis.atomic_files import write_text_atomically

SCLITE_COLUMNS = ("Snt", "Wrd", "Corr", "Sub", "Del", "Ins", "Err", "S.Err")


def write_metrics_json(path: str | Path, results: dict) -> Path:
    """``{metric: {test set: values}}`` written atomically."""
    return write_text_atomically(path, json.dumps(results, indent=1, sort_keys=False) + "\n")


def format_results_table(results: dict) -> str:
    """One Markdown table per error-rate metric (sclite columns), plus throughput when present."""
    blocks = []
    for metric, per_test in results.items():
        if metric == "throughput":
            rows = [f"| {t} | {v['utterances']} | {v['audio_seconds']:.1f} | {v['wall_seconds']:.1f} | {v['rtf']} |"
                    for t, v in per_test.items()]
            blocks.append("### throughput\n\n| test | utts | audio s | wall s | RTF |\n|---|---|---|---|---|\n" + "\n".join(rows))
            continue
        header = f"| test | {metric} | " + " | ".join(SCLITE_COLUMNS) + " |"
        rule = "|" + "---|" * (len(SCLITE_COLUMNS) + 2)
        rows = [f"| {t} | {v.get(metric, '')} | " + " | ".join(str(v.get(c, "")) for c in SCLITE_COLUMNS) + " |"
                for t, v in per_test.items()]
        blocks.append(f"### {metric}\n\n{header}\n{rule}\n" + "\n".join(rows))
        blocks += [format_group_table(metric, test, key, groups) for test, v in per_test.items()
                   for key, groups in v.items() if key.startswith("by_")]
    return "\n\n".join(blocks) + "\n"


def format_group_table(metric: str, test: str, key: str, groups: dict[str, dict]) -> str:
    """``by_<field>`` results of one test set as a table, worst group first."""
    rows = [f"| {label} | {'n/a' if v[metric] is None else v[metric]} | {v['Snt']} | {v['Wrd']} | {v['n_err']} |"
            for label, v in groups.items()]
    field = key[len("by_"):]
    return (f"### {metric} by {field} ({test})\n\n| {field} | {metric} | Snt | Wrd | errors |\n|---|---|---|---|---|\n"
            + "\n".join(rows))


def write_results_markdown(path: str | Path, results: dict) -> Path:
    return write_text_atomically(path, format_results_table(results))
