"""TSV manifests: one utterance per line, the simplest corpus format a recipe can ship.

Layout of ``<manifest_dir>/<split>.tsv``::

    utt_id<TAB>path<TAB>text<TAB>duration[<TAB>extra columns...]
    train_000001<TAB>../audio/train/train_000001.flac<TAB>four two oh<TAB>1.730

``path`` is relative to the manifest's folder (or absolute), so a data folder can be
moved as a whole. ``duration`` is in seconds; batching and statistics read it instead
of opening the audio.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np

from vocalis.data.audio import load_audio
from vocalis.infer.scp import check_utt_id

__all__ = ["REQUIRED_COLUMNS", "ManifestDataset", "read_manifest", "write_manifest"]

REQUIRED_COLUMNS = ("utt_id", "path", "text", "duration")


def write_manifest(path: str | Path, rows: Iterable[dict], columns: tuple[str, ...] = REQUIRED_COLUMNS) -> None:
    """Write rows (dicts with at least ``columns``) as a TSV with a header, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write("\t".join(columns) + "\n")
            for row in rows:
                values = [str(row[c]) for c in columns]
                for column, value in zip(columns, values):
                    if "\t" in value or "\n" in value:
                        raise ValueError(f"{path}: utterance {row.get('utt_id')}: column {column!r} holds a tab or "
                                         "newline; replace it before writing the manifest")
                f.write("\t".join(values) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    """Rows of a TSV manifest as dicts, in file order; ``path`` entries made absolute.

    Raises:
        FileNotFoundError: no such manifest (with a hint to run create_dataset).
        ValueError: missing columns, malformed lines, bad or duplicate utt_ids (with line numbers).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} does not exist; run the create_dataset stage first "
                                "(python run.py --stages create_dataset)")
    rows: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        missing = [c for c in REQUIRED_COLUMNS if c not in (header or [])]
        if missing:
            raise ValueError(f"{path}: header {header} lacks columns {missing}; the first line must name "
                             f"the columns, at least {list(REQUIRED_COLUMNS)}")
        for lineno, values in enumerate(reader, start=2):
            if len(values) != len(header):
                raise ValueError(f"{path}:{lineno}: {len(values)} columns, the header has {len(header)}")
            row = dict(zip(header, values))
            utt_id = row["utt_id"]
            check_utt_id(utt_id, f"{path}:{lineno}")
            if utt_id in seen:
                raise ValueError(f"{path}:{lineno}: utt_id {utt_id!r} already on line {seen[utt_id]}; ids must be unique")
            seen[utt_id] = lineno
            row["path"] = str((path.parent / row["path"]).resolve()) if not os.path.isabs(row["path"]) else row["path"]
            rows.append(row)
    return rows


class ManifestDataset:
    """Items ``{"utt_id", "speech": float32 (N,), "text": str}`` from ``<manifest_dir>/<split>.tsv``.

    Other columns of the manifest (``speaker``, ``voice``, ...) come along as strings: the
    infer stage writes them next to the hypotheses, so metrics can group by them.

    Args:
        manifest_dir: folder of ``<split>.tsv`` files.
        split: which file to read.
        sample_rate: audio at another rate is resampled (``on_rate_mismatch="resample"``) or refused.
    """

    def __init__(self, manifest_dir: str | Path, split: str, sample_rate: int = 16000,
                 on_rate_mismatch: str = "resample"):
        self.manifest = Path(manifest_dir) / f"{split}.tsv"
        self.rows = read_manifest(self.manifest)
        self.sample_rate, self.on_rate_mismatch = sample_rate, on_rate_mismatch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict:
        row = self.rows[index]
        wave, _ = load_audio(row["path"], self.sample_rate, utt_id=row["utt_id"],
                             on_rate_mismatch=self.on_rate_mismatch)
        extra = {k: v for k, v in row.items() if k not in REQUIRED_COLUMNS}
        return {"utt_id": row["utt_id"], "speech": wave, "text": row["text"], **extra}

    def utt_id(self, index: int) -> str:
        """Id of item ``index`` without reading audio."""
        return self.rows[index]["utt_id"]

    def get_text(self, index: int) -> str:
        """Transcript without reading audio (the tokenizer stage reads only this)."""
        return self.rows[index]["text"]

    def durations(self) -> np.ndarray:
        """Seconds per utterance, from the manifest, for duration batching."""
        return np.array([float(r["duration"]) for r in self.rows])
