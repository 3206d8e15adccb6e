"""The files an experiment's pipeline reads besides the audio, and a check that they are the ones it trained on.

The tokenizer (``tokenizer.save_path``) and the global feature statistics (``stats_dir``) live
outside ``exp_dir`` and are shared by a recipe's experiments: the train_tokenizer and
collect_stats stages of another config rewrite them in place. An experiment decoded with
another run's statistics or token list gives wrong transcripts without any error, so the train
stage records their sha256 in its done-marker (``inputs``), and training again, resuming and
decoding (:class:`~vocalis.infer.speech2text.Speech2Text`) refuse files that have changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vocalis.data.pipeline import stats_file
from vocalis.stages.markers import file_fingerprint


class PipelineFilesChangedError(RuntimeError):
    """A tokenizer or statistics file differs from the one the experiment trained with."""


def pipeline_files(cfg: Any) -> dict[str, Path]:
    """What :func:`~vocalis.data.pipeline.build_pipeline` reads for ``cfg``, by role: the tokenizer's
    model and token list, and the statistics for ``normalize: global_mvn``; only files that exist."""
    tokenizer = Path(str(cfg.tokenizer.save_path))
    files = {"tokenizer model": tokenizer / "tokenizer.model", "token list": tokenizer / "tokens.txt"}
    if cfg.get("normalize") == "global_mvn":
        files["feature statistics"] = Path(stats_file(cfg))
    return {role: path for role, path in files.items() if path.is_file()}


def pipeline_digests(cfg: Any) -> dict[str, str]:
    """sha256 of each of :func:`pipeline_files`, by role (what the train stage records)."""
    return {role: file_fingerprint(path) for role, path in pipeline_files(cfg).items()}


def check_pipeline_files(cfg: Any, recorded: dict[str, str] | None, exp_dir: str | Path, action: str) -> None:
    """Raise :class:`PipelineFilesChangedError` when a file of ``recorded`` (role -> sha256, from the
    train stage) now has other bytes or is gone. ``recorded`` None (an experiment trained before
    these were recorded) passes. ``action`` says what was about to happen, for the message."""
    if not recorded:
        return
    files = pipeline_files(cfg)
    changed = [role for role, digest in recorded.items()
               if role not in files or file_fingerprint(files[role]) != digest]
    if changed:
        where = "; ".join(f"the {role} {files.get(role, '(missing)')}" for role in changed)
        raise PipelineFilesChangedError(
            f"cannot {action}: {where} changed since {exp_dir} was trained (another config's train_tokenizer or "
            "collect_stats stage rewrote it?). Restore it, or train this experiment again; to keep experiments "
            "apart, give each config its own tokenizer.save_path / stats_dir.")
