"""One resolved inference config turned into a provider and a runner, and its fingerprint.

The same function builds them on the driver and on every Dask worker, so a worker
runs exactly what ``provider:``/``runner:`` name (a recipe's own subclasses included).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from vocalis.config.instantiate import instantiate
from vocalis.stages.markers import file_fingerprint, fingerprint

# Keys that say how or where to run, not what is computed: they never make outputs stale.
NOT_FINGERPRINTED = ("dataset", "parallel", "overwrite")


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def build_session(cfg: DictConfig, recipe_dir: str | Path) -> tuple[Any, Any]:
    """``(provider, runner)`` of an inference config (``provider:``, ``runner:`` and the runner keys)."""
    provider = instantiate(cfg.provider, "provider", inference_config=cfg, recipe_dir=recipe_dir)
    runner = instantiate(cfg.runner, "runner", provider=provider, input_key=_plain(cfg.input_key),
                         output_fn=cfg.output_fn, output_keys=_plain(cfg.output_keys) or None,
                         idx_key=cfg.idx_key, batch_size=cfg.batch_size,
                         output_artifacts=_plain(cfg.get("output_artifacts")) or None)
    return provider, runner


def model_files(model_cfg: DictConfig) -> list[Path]:
    """The files whose bytes decide the model's outputs: the resolved checkpoint and the
    experiment's config.yaml for Speech2Text-style nodes (``exp_dir`` + ``checkpoint``), plus
    every other existing file the ``model:`` node names."""
    files: list[Path] = []
    plain = _plain(model_cfg) or {}
    if "exp_dir" in plain and "checkpoint" in plain:
        from vocalis.infer.speech2text import checkpoint_files

        exp_dir = Path(plain["exp_dir"])
        files += checkpoint_files(exp_dir, str(plain["checkpoint"])) + [exp_dir / "config.yaml"]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and ("/" in node or "." in node) and Path(node).is_file():
            files.append(Path(node))

    walk(plain)
    return sorted({f.resolve() for f in files if f.is_file()})


def inference_fingerprint(cfg: DictConfig, test_entry: Any, dataset: Any = None) -> str:
    """sha256 of what decides a test set's outputs: the config (minus how/where it runs),
    the bytes of the model files, the test set's dataset entry and its manifest rows
    (:func:`manifest_rows`): a corrected transcript makes the outputs (and ``ref.scp``) stale."""
    settings = {k: _plain(v) for k, v in cfg.items() if k not in NOT_FINGERPRINTED}
    models = {str(path): file_fingerprint(path) for path in model_files(cfg.model)}
    return fingerprint(settings, models, _plain(test_entry), manifest_rows(dataset))


def manifest_rows(dataset: Any) -> list[list[dict]] | None:
    """The manifest rows (utt_id, path, text, ...) of each part of a test set, read without audio,
    or None for datasets that keep no rows (their entry and ids stand for them)."""
    parts = getattr(dataset, "parts", None) or ([dataset] if dataset is not None else [])
    if not parts or not all(isinstance(getattr(p, "rows", None), list) for p in parts):
        return None
    return [p.rows for p in parts]


def dataset_sample_rate(dataset: Any, default: int = 16000) -> int:
    """The sample rate of a test set's audio (of its first part), for audio durations."""
    parts = getattr(dataset, "parts", None) or [dataset]
    return int(getattr(parts[0], "sample_rate", default))


def utterance_ids(dataset: Any, idx_key: str = "utt_id") -> list[str]:
    """Ids of a test set in order: each item's ``idx_key`` field, else its ``utt_id``.

    Read from manifest rows without loading audio when the dataset has them."""
    rows, transforms = manifest_rows(dataset), getattr(dataset, "transforms", None) or [None]
    if rows is not None and idx_key == "utt_id" and all(t is None for t in transforms):
        return [str(row["utt_id"]) for part in rows for row in part]
    return [str(item.get(idx_key, item.get("utt_id"))) for item in (dataset[i] for i in range(len(dataset)))]
