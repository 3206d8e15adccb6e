"""AN4 (CMU census database): TSV manifests over a copy of AN4 the user already has.

Nothing is downloaded. ``create_dataset.an4_dir`` is the extracted ``an4/`` folder of
``an4_sphere.tar.gz`` (http://www.speech.cs.cmu.edu/databases/an4/)::

    an4/etc/an4_train.fileids        an4_clstk/fash/an251-fash-b      (one per line)
    an4/etc/an4_train.transcription  <s> YES </s> (fash-an251-b)      (same order)
    an4/etc/an4_test.{fileids,transcription}
    an4/wav/an4_clstk/fash/an251-fash-b.sph, an4/wav/an4test_clstk/...

SPHERE files are read by soundfile (no sph2pipe needed). As in ESPnet's egs2/an4, the
first ``num_dev`` training utterances (100) in utterance-id order become ``train_dev``
(validation) and the rest ``train_nodev``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import soundfile as sf

from vocalis.data.manifest import write_manifest

log = logging.getLogger(__name__)

LAYOUT = ("an4/etc/an4_{train,test}.fileids, an4/etc/an4_{train,test}.transcription and "
          "an4/wav/<fileid>.sph (the an4_sphere.tar.gz layout)")
MARKER = ".built"
_TRANSCRIPT = re.compile(r"^\s*(?:<s>)?\s*(?P<text>.*?)\s*(?:</s>)?\s*\((?P<utt>[^)]+)\)\s*$")


def read_an4_split(an4_dir: Path, split: str) -> list[dict]:
    """Rows ``{utt_id, path, text, duration}`` of ``train`` or ``test`` (file order)."""
    fileids = an4_dir / "etc" / f"an4_{split}.fileids"
    trans = an4_dir / "etc" / f"an4_{split}.transcription"
    for path in (fileids, trans):
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; expected {LAYOUT}")
    ids = [ln.strip() for ln in fileids.read_text().splitlines() if ln.strip()]
    lines = [ln for ln in trans.read_text().splitlines() if ln.strip()]
    if len(ids) != len(lines):
        raise ValueError(f"{fileids} has {len(ids)} entries but {trans} has {len(lines)} lines")
    rows = []
    for lineno, (fileid, line) in enumerate(zip(ids, lines), start=1):
        found = _TRANSCRIPT.match(line)
        if not found:
            raise ValueError(f"{trans}:{lineno}: expected '<s> TEXT </s> (utt-id)', got {line!r}")
        audio = an4_dir / "wav" / f"{fileid}.sph"
        if not audio.is_file():
            raise FileNotFoundError(f"{audio} (line {lineno} of {fileids}) is missing; expected {LAYOUT}")
        rows.append({"utt_id": found["utt"], "path": str(audio), "text": found["text"],
                     "duration": f"{sf.info(str(audio)).duration:.3f}"})
    return rows


def _settings(kwargs: dict) -> tuple[Path | None, Path, int]:
    unknown = set(kwargs) - {"an4_dir", "data_dir", "num_dev"}
    if unknown:
        raise TypeError(f"create_dataset: unknown keys {sorted(unknown)} for AN4; known: an4_dir, data_dir, num_dev")
    if "data_dir" not in kwargs:
        raise TypeError("create_dataset.data_dir is required: where the manifests are written")
    source = kwargs.get("an4_dir")
    return (Path(source).expanduser().resolve() if source else None, Path(kwargs["data_dir"]).resolve(),
            int(kwargs.get("num_dev", 100)))


class DatasetBuilder:
    """Manifests ``train_nodev``, ``train_dev`` and ``test`` from an extracted AN4 copy.

    ``build`` keyword arguments (``create_dataset:``): ``an4_dir``, ``data_dir``, ``num_dev``.
    """

    def is_source_prepared(self, **kwargs) -> bool:
        source, _, _ = _settings(kwargs)
        return source is not None and all((source / "etc" / f"an4_{s}.transcription").is_file()
                                          for s in ("train", "test"))

    def prepare_source(self, **kwargs) -> None:
        if self.is_source_prepared(**kwargs):
            return
        source, _, _ = _settings(kwargs)
        where = f"under {source}" if source else "(create_dataset.an4_dir is not set)"
        raise FileNotFoundError(
            f"AN4 not found {where}. Vocalis does not download corpora: get an4_sphere.tar.gz from "
            "http://www.speech.cs.cmu.edu/databases/an4/, extract it and set create_dataset.an4_dir=/path/to/an4. "
            f"Expected layout: {LAYOUT}")

    def is_built(self, **kwargs) -> bool:
        source, data_dir, num_dev = _settings(kwargs)
        marker = data_dir / MARKER
        return marker.is_file() and json.loads(marker.read_text()) == {"an4_dir": str(source), "num_dev": num_dev}

    def build(self, **kwargs) -> None:
        self.prepare_source(**kwargs)
        source, data_dir, num_dev = _settings(kwargs)
        train = sorted(read_an4_split(source, "train"), key=lambda r: r["utt_id"])  # Kaldi order
        if not 0 < num_dev < len(train):
            raise ValueError(f"create_dataset.num_dev={num_dev} must lie in (0, {len(train)})")
        test = sorted(read_an4_split(source, "test"), key=lambda r: r["utt_id"])
        splits = {"train_dev": train[:num_dev], "train_nodev": train[num_dev:], "test": test}
        for name, rows in splits.items():
            write_manifest(data_dir / "manifest" / f"{name}.tsv", rows)
            log.info("an4 %s: %d utterances", name, len(rows))
        tmp = data_dir / f"{MARKER}.partial"
        tmp.write_text(json.dumps({"an4_dir": str(source), "num_dev": num_dev}))
        os.replace(tmp, data_dir / MARKER)
