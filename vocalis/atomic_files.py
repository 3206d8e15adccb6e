"""Writing a file so that a reader never sees half of it: a ``.partial`` sibling, then a rename."""

from __future__ import annotations

import os
from pathlib import Path


def write_text_atomically(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through ``<path>.partial`` and ``os.replace``: an interrupted
    run leaves the old file or none, never a truncated one a later stage would trust."""
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
