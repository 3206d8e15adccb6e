"""Kaldi-style ``.scp`` text files: one ``<utt_id> <value>`` line per utterance.

Values may contain spaces (a hypothesis text); ids may not. Files are written
atomically (``.partial`` then rename) so a crash never leaves half a file behind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable


def check_utt_id(utt_id: str, where: str = "") -> str:
    """Return ``utt_id`` if it is a single non-empty token, else raise naming it."""
    if not isinstance(utt_id, str) or not utt_id or any(c.isspace() for c in utt_id):
        raise ValueError(
            f"utterance id {utt_id!r}{' in ' + where if where else ''} must be a non-empty "
            "string without whitespace (it becomes the first column of .scp files); "
            "rename it, e.g. replace spaces with '_'."
        )
    return utt_id


def format_scp_value(value: object) -> str:
    """One-line text for a scalar value; newlines would break the format."""
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ValueError(f"scp values must be one line; got {text!r}")
    return text


def write_scp(path: str | Path, items: Iterable[tuple[str, object]]) -> Path:
    """Write ``(utt_id, value)`` pairs atomically, in the given order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "w", encoding="utf-8") as f:
        for utt_id, value in items:
            f.write(f"{check_utt_id(utt_id, str(path))} {format_scp_value(value)}\n")
    os.replace(tmp, path)
    return path


def read_scp(path: str | Path) -> dict[str, str]:
    """Read an scp file into an insertion-ordered ``{utt_id: value}`` dict.

    The id ends at the first space or tab (a tab-separated ``wav.scp`` reads too); the value is
    the rest of the line after that one separator. A line with only an id maps to ``""`` (an empty
    hypothesis). Duplicate ids are an error because they make scoring ambiguous.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"scp file {path} does not exist; run the stage that writes it first.")
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            cut = next((i for i, c in enumerate(line) if c in " \t"), len(line))  # Kaldi: a space or a tab
            utt_id, value = line[:cut], line[cut + 1:]
            if utt_id in out:
                raise ValueError(f"{path}:{lineno}: duplicate utterance id {utt_id!r}")
            out[utt_id] = value
    return out
