"""End-of-training outputs: ``exp_dir/curves.png`` (loss and accuracy-like curves) and
``exp_dir/summary.txt`` (one screen: steps, wall time, best checkpoint and its metric,
trainable parameters), built from :mod:`vocalis.train.callbacks.history`'s record."""

from __future__ import annotations

import os
from pathlib import Path

from vocalis.train.callbacks.epoch_timer import epoch_timing
from vocalis.train.callbacks.history import best_valid


def curves_figure(history: dict):
    """The figure of :func:`plot_curves`: train loss per step and valid losses per epoch (left
    axes); other valid metrics, e.g. ``ter``/``acc`` (right axes, only when there are any)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted({k for row in history["valid"] for k in row if k.startswith("valid/")})
    loss_keys, other_keys = [k for k in keys if "loss" in k], [k for k in keys if "loss" not in k]
    fig, axes = plt.subplots(1, 2 if other_keys else 1, figsize=(11 if other_keys else 6, 4), squeeze=False)
    ax = axes[0][0]
    if history["train"]:
        steps, train_losses = zip(*history["train"])
        ax.plot(steps, train_losses, lw=0.8, alpha=0.7, label="train/loss")
    _plot_valid(ax, history, loss_keys)
    ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.set_title("loss"), ax.grid(alpha=0.3)
    ax.legend()
    if other_keys:
        ax = axes[0][1]
        _plot_valid(ax, history, other_keys)
        ax.set_xlabel("step"), ax.set_title("validation metrics"), ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def _plot_valid(ax, history: dict, keys: list[str]) -> None:
    """One line per key over the validation rows that hold it, at their steps."""
    for key in keys:
        rows = [r for r in history["valid"] if key in r]
        ax.plot([r["step"] for r in rows], [r[key] for r in rows], "o-", label=key)


def plot_curves(history: dict, path: Path) -> Path:
    """:func:`curves_figure` written to ``path`` (PNG, atomically)."""
    fig = curves_figure(history)  # first: it selects the Agg backend before pyplot is imported here
    import matplotlib.pyplot as plt

    tmp = path.with_name(path.stem + ".partial.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _duration(seconds: float) -> str:
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {sec:02d} s" if hours else f"{minutes} min {sec:02d} s"


def summary_text(exp_dir: Path, history: dict, *, global_step: int, epochs: int, monitor: str, mode: str,
                 best_path: str | None, best_score: float | None, averaged: Path | None,
                 total_params: int, trainable_params: int, skipped: int, extra: list[str] = ()) -> str:
    """The one-screen summary (plain text, aligned columns)."""

    def rel(p: str | Path | None) -> str:
        if not p:
            return "-"
        p = Path(p)
        return str(p.relative_to(exp_dir)) if p.is_relative_to(exp_dir) else str(p)

    best_row = best_valid(history, monitor, mode)
    last_row = history["valid"][-1] if history["valid"] else {}
    metrics = ", ".join(f"{k.split('/', 1)[1]} {v:.4g}" for k, v in last_row.items() if k.startswith("valid/"))
    lines = [
        f"Vocalis training summary  {exp_dir}",
        f"  steps            {global_step} in {epochs} epochs",
        f"  wall time        {_duration(history.get('wall_seconds', 0.0))}",
        *([f"  last epoch       {epoch_timing(history['epochs'][-1])}"] if history.get("epochs") else []),
        f"  best checkpoint  {rel(best_path)}  {monitor} = "
        + (f"{best_score:.4g} ({mode})" if best_score is not None else "-")
        + (f" at epoch {best_row['epoch'] + 1}, step {best_row['step']}" if best_row else ""),
        f"  averaged best    {rel(averaged)}",
        f"  last validation  {metrics or '-'}",
        f"  trainable        {trainable_params:,} of {total_params:,} parameters "
        f"({100.0 * trainable_params / max(total_params, 1):.1f} %)",
        f"  skipped batches  {skipped} (non-finite loss)",
        *[f"  {line}" for line in extra],
    ]
    return "\n".join(lines) + "\n"


def write_summary(text: str, path: Path) -> Path:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
