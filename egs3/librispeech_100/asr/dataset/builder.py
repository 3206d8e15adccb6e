"""LibriSpeech 100 h: TSV manifests over a copy of LibriSpeech the user already has.

Nothing is downloaded. ``create_dataset.librispeech_dir`` is the extracted ``LibriSpeech/``
folder (from https://www.openslr.org/12: train-clean-100, dev-clean, dev-other,
test-clean, test-other). The build writes ``<data_dir>/manifest/<split>.tsv`` with absolute
audio paths, so the audio stays where it is.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from vocalis.data.formats.librispeech import LAYOUT, read_librispeech
from vocalis.data.manifest import write_manifest

log = logging.getLogger(__name__)

SUBSETS = {"train_clean_100": "train-clean-100", "dev_clean": "dev-clean", "dev_other": "dev-other",
           "test_clean": "test-clean", "test_other": "test-other"}
MARKER = ".built"


def _paths(kwargs: dict) -> tuple[Path | None, Path]:
    unknown = set(kwargs) - {"librispeech_dir", "data_dir", "subsets"}
    if unknown:
        raise TypeError(f"create_dataset: unknown keys {sorted(unknown)} for LibriSpeech; "
                        "known: librispeech_dir, data_dir, subsets")
    if "data_dir" not in kwargs:
        raise TypeError("create_dataset.data_dir is required: where the manifests are written")
    source = kwargs.get("librispeech_dir")
    return (Path(source).expanduser().resolve() if source else None), Path(kwargs["data_dir"]).resolve()


def _subsets(kwargs: dict) -> dict[str, str]:
    names = kwargs.get("subsets") or list(SUBSETS)
    bad = [n for n in names if n not in SUBSETS]
    if bad:
        raise ValueError(f"create_dataset.subsets: unknown {bad}; choose from {list(SUBSETS)}")
    return {n: SUBSETS[n] for n in names}


class DatasetBuilder:
    """Manifests for LibriSpeech subsets found under ``librispeech_dir``.

    ``build`` keyword arguments (``create_dataset:``): ``librispeech_dir`` (the folder holding
    ``train-clean-100/`` etc.), ``data_dir``, optional ``subsets`` (manifest names to make).
    """

    def missing(self, **kwargs) -> list[str]:
        source, _ = _paths(kwargs)
        if source is None:
            return list(_subsets(kwargs).values())
        return [folder for folder in _subsets(kwargs).values() if not any((source / folder).glob("*/*/*.trans.txt"))]

    def is_source_prepared(self, **kwargs) -> bool:
        return not self.missing(**kwargs)

    def prepare_source(self, **kwargs) -> None:
        missing = self.missing(**kwargs)
        if not missing:
            return
        source, _ = _paths(kwargs)
        where = f"under {source}" if source else "(create_dataset.librispeech_dir is not set)"
        raise FileNotFoundError(
            f"LibriSpeech subsets {missing} not found {where}. Vocalis does not download corpora: get them from "
            "https://www.openslr.org/12 (e.g. train-clean-100.tar.gz), extract them, and set "
            "create_dataset.librispeech_dir=/path/to/LibriSpeech (the folder holding train-clean-100/, dev-clean/, ...). "
            f"Expected layout: {LAYOUT}")

    def _settings(self, kwargs: dict) -> dict:
        source, _ = _paths(kwargs)
        return {"librispeech_dir": str(source), "subsets": list(_subsets(kwargs))}

    def is_built(self, **kwargs) -> bool:
        _, data_dir = _paths(kwargs)
        marker = data_dir / MARKER
        return marker.is_file() and json.loads(marker.read_text()) == self._settings(kwargs)

    def build(self, **kwargs) -> None:
        self.prepare_source(**kwargs)
        source, data_dir = _paths(kwargs)
        for name, folder in _subsets(kwargs).items():
            rows = [{"utt_id": r["utt_id"], "path": r["audio"], "text": r["text"], "duration": f"{r['duration']:.3f}"}
                    for r in read_librispeech(source / folder)]
            write_manifest(data_dir / "manifest" / f"{name}.tsv", rows)
            log.info("librispeech %s: %d utterances, %.1f h", name, len(rows),
                     sum(float(r["duration"]) for r in rows) / 3600)
        tmp = data_dir / f"{MARKER}.partial"
        tmp.write_text(json.dumps(self._settings(kwargs)))
        os.replace(tmp, data_dir / MARKER)
