"""JSON-lines manifests (NeMo style): one object per line.

Keys: ``audio_filepath`` (or ``audio`` / ``path``), ``text``, optional ``duration`` and
``offset`` (seconds; with an offset, ``duration`` seconds from it are the utterance, as in
NeMo), optional ``utt_id`` (or ``id``; default: the file name without
suffix, plus ``-<offset>`` when an offset is given). Relative paths start at the
manifest's folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from .base import UtteranceDataset

__all__ = ["Dataset", "JsonlDataset", "read_jsonl"]

AUDIO_KEYS = ("audio_filepath", "audio", "path")


def read_jsonl(path: str | Path) -> list[dict]:
    """Rows ``{utt_id, audio, text, offset, duration}`` in file order.

    Raises:
        FileNotFoundError: no such manifest.
        ValueError: invalid JSON, a missing key, or a duplicate id (with the line number).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"JSONL manifest {path} does not exist")
    rows, seen = [], {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{lineno}: not a JSON object ({err})") from err
        audio = next((obj[k] for k in AUDIO_KEYS if k in obj), None)
        if audio is None or "text" not in obj:
            raise ValueError(f"{path}:{lineno}: needs 'audio_filepath' (or 'audio'/'path') and 'text'; has {sorted(obj)}")
        offset = float(obj.get("offset", 0.0))
        utt_id = str(obj.get("utt_id", obj.get("id", Path(audio).stem + (f"-{offset:.2f}" if offset else ""))))
        if utt_id in seen:
            raise ValueError(f"{path}:{lineno}: id {utt_id!r} already on line {seen[utt_id]}; give each line a "
                             "unique 'utt_id'")
        seen[utt_id] = lineno
        audio_path = Path(audio) if Path(audio).is_absolute() else path.parent / audio
        duration = obj.get("duration")
        rows.append({"utt_id": utt_id, "audio": str(audio_path), "text": str(obj["text"]), "offset": offset,
                     "duration": float(duration) if duration is not None else None,
                     "excerpt": "offset" in obj and duration is not None})
    return rows


class JsonlDataset(UtteranceDataset):
    """A JSONL manifest as a dataset (items ``{"utt_id", "speech", "text"}``)."""

    def __init__(self, manifest: str | Path, sample_rate: int = 16000, on_rate_mismatch: str = "resample"):
        super().__init__(read_jsonl(manifest), sample_rate, on_rate_mismatch)


Dataset = JsonlDataset  # so ``data_src: vocalis.data.formats.jsonl`` works in a config
