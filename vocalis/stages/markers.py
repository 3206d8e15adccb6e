"""Done-markers with config fingerprints: skip finished work, refuse to mix stale outputs.

A stage writes ``<dir>/.<name>.done`` holding the sha256 of the config that produced its
outputs. On the next run the same fingerprint means "skip", a different one means the
outputs are stale for this config.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def fingerprint(*parts: Any) -> str:
    """sha256 over the JSON of plain containers (resolved configs, file facts)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_fingerprint(path: str | Path) -> str:
    """sha256 of a file's bytes (checkpoints, manifests)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class DoneMarker:
    """``<folder>/.<name>.done``: written last and atomically, so it is never half there."""

    def __init__(self, folder: str | Path, name: str):
        self.path = Path(folder) / f".{name}.done"

    def read(self) -> str | None:
        info = self.info()
        return None if info is None else info.get("fingerprint")

    def info(self) -> dict | None:
        """Everything the marker holds (``fingerprint`` and what :meth:`write` was given), or None."""
        if not self.path.is_file():
            return None
        return json.loads(self.path.read_text())

    def matches(self, fp: str) -> bool:
        return self.read() == fp

    def write(self, fp: str, **info: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".partial")
        tmp.write_text(json.dumps({"fingerprint": fp, **info}, indent=1, default=str))
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
