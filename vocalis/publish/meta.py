"""``meta.yaml`` of a bundle: versions and the sha256 of every file, written last and checked first."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import yaml

from vocalis.stages.markers import file_fingerprint

SCHEMA_VERSION = 1
META_FILE = "meta.yaml"


class BundleIntegrityError(RuntimeError):
    """A bundle whose files do not match its meta.yaml (changed, missing or added files)."""


def bundle_files(root: str | Path) -> list[str]:
    """Bundle-relative paths of every file but meta.yaml, sorted. Python caches count: a planted
    ``src/__pycache__/*.pyc`` would run instead of the ``src/*.py`` a user read."""
    root = Path(root)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != META_FILE)


def versions() -> dict[str, str]:
    import numpy
    import torch

    import vocalis

    return {"python": platform.python_version(), "torch": str(torch.__version__), "numpy": str(numpy.__version__),
            "vocalis": str(getattr(vocalis, "__version__", "unknown"))}


def write_meta(root: str | Path, **info: Any) -> dict:
    """Hash every file of ``root`` and write ``meta.yaml`` (``info`` adds top-level keys)."""
    root = Path(root)
    meta = {"schema_version": SCHEMA_VERSION, **info, "versions": versions(),
            "files": {name: file_fingerprint(root / name) for name in bundle_files(root)}}
    (root / META_FILE).write_text(yaml.safe_dump(meta, sort_keys=False))
    return meta


def verify_bundle(root: str | Path) -> dict:
    """The bundle's meta.yaml after checking that its files are exactly the ones it lists, unchanged."""
    root = Path(root)
    meta_file = root / META_FILE
    if not meta_file.is_file():
        raise FileNotFoundError(f"{root} is not a Vocalis bundle: {META_FILE} is missing (make one with the pack "
                                "stage: python run.py --stages pack)")
    meta = yaml.safe_load(meta_file.read_text())
    if not isinstance(meta, dict) or not isinstance(meta.get("files", {}), dict):
        raise BundleIntegrityError(f"{meta_file} is not a bundle's meta.yaml (a mapping with a files: mapping); the "
                                   "bundle was damaged: get a fresh copy or re-pack it")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise BundleIntegrityError(f"{meta_file}: unknown schema_version {meta.get('schema_version')!r} "
                                   f"(this Vocalis reads {SCHEMA_VERSION}); re-pack the model with this version")
    listed, present = dict(meta.get("files") or {}), set(bundle_files(root))
    problems = [f"missing {name}" for name in sorted(set(listed) - present)]
    problems += [f"not listed {name}" + (" (Python bytecode would run instead of the listed source: delete the "
                                         "__pycache__ folders)" if name.endswith(".pyc") else "")
                 for name in sorted(present - set(listed))]
    problems += [f"changed {name}" for name in sorted(set(listed) & present)
                 if file_fingerprint(root / name) != listed[name]]
    if problems:
        raise BundleIntegrityError(f"{root}: the files do not match {META_FILE} ({'; '.join(problems[:5])}); the "
                                   "bundle was modified or damaged: get a fresh copy or re-pack it")
    return meta
