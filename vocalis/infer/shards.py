"""Resumable shards of one test set: a plan, per-shard folders with done markers, assembly.

Layout under ``<inference_dir>/<test>/``::

    shards/manifest.json           the plan: fingerprint, shard size, the ids of every shard
    shards/shard.00000/<field>.scp one fragment per output field, in dataset order
    shards/shard.00000/.shard.done written inside the folder before it is renamed into place
    <field>.scp                    the fragments concatenated in shard order (dataset order)

A shard is built in ``shard.NNNNN.tmp`` and renamed to ``shard.NNNNN`` only when complete,
so a killed run leaves either a whole shard or nothing. The plan depends only on the
dataset's ids and ``shard_size`` (never on the number of workers), so batches, and
therefore outputs, are the same with 1 or N workers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from vocalis.infer.scp import write_scp
from vocalis.stages.markers import DoneMarker

SHARD_MARKER = "shard"


class StaleOutputsError(RuntimeError):
    """Outputs on disk were made by another config, checkpoint or dataset; they are never mixed."""


def ids_digest(ids: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


@dataclass(frozen=True)
class Shard:
    """Items ``[start, stop)`` of a test set, in dataset order."""

    index: int
    start: int
    stop: int
    ids: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"shard.{self.index:05d}"


def plan_shards(ids: list[str], shard_size: int) -> list[Shard]:
    """Consecutive runs of ``shard_size`` ids (the last may be shorter); duplicate ids are an error."""
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    seen: set[str] = set()
    for utt_id in ids:
        if utt_id in seen:
            raise ValueError(f"utterance id {utt_id!r} occurs twice in the test set; ids must be unique")
        seen.add(utt_id)
    return [Shard(k, lo, min(lo + shard_size, len(ids)), tuple(ids[lo:lo + shard_size]))
            for k, lo in enumerate(range(0, len(ids), shard_size))]


class ShardStore:
    """The shard folders of one test set's output folder ``out_dir``.

    Args:
        out_dir: ``<inference_dir>/<test>``.
        fingerprint: of the inference config and model checkpoint; stored with every shard.
    """

    def __init__(self, out_dir: str | Path, fingerprint: str):
        self.out_dir = Path(out_dir)
        self.root = self.out_dir / "shards"
        self.fingerprint = fingerprint

    def start_over_hint(self) -> str:
        return (f"To start over, delete {self.out_dir} (rm -r), or run with inference.overwrite=true; to keep "
                "both, give the new setting its own config file (conf/inference_<name>.yaml writes to "
                "exp/<exp_tag>/inference_<name>).")

    def open(self, shards: list[Shard], overwrite: bool = False) -> None:
        """Write the plan, or check that the one on disk is this run's; stale outputs are refused."""
        manifest = self.root / "manifest.json"
        plan = {"fingerprint": self.fingerprint, "shards": [[s.start, s.stop, ids_digest(s.ids)] for s in shards]}
        if manifest.is_file():
            old = json.loads(manifest.read_text())
            problem = None
            if old.get("fingerprint") != self.fingerprint:
                problem = "were made with a different inference config, model checkpoint or test data"
            elif old.get("shards") != plan["shards"]:
                problem = "were made for different utterances (the test set changed)"
            if problem is None:
                return
            if not overwrite:
                raise StaleOutputsError(f"the shards in {self.root} {problem}; they are not mixed with new "
                                        f"outputs. {self.start_over_hint()}")
        if overwrite:
            self.clear()
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = manifest.with_name("manifest.json.partial")
        tmp.write_text(json.dumps(plan, indent=1))
        os.replace(tmp, manifest)

    def clear(self) -> None:
        """Remove every output of this test set (shards, scp files, artifacts, markers)."""
        if self.out_dir.is_dir():
            shutil.rmtree(self.out_dir)

    def shard_dir(self, shard: Shard) -> Path:
        return self.root / shard.name

    def is_done(self, shard: Shard) -> bool:
        return DoneMarker(self.shard_dir(shard), SHARD_MARKER).matches(self.fingerprint)

    def info(self, shard: Shard) -> dict[str, Any]:
        """What the shard's done marker recorded (fields, audio and compute seconds)."""
        return json.loads(DoneMarker(self.shard_dir(shard), SHARD_MARKER).path.read_text())

    def write_shard(self, shard: Shard, records: list[dict], fields: list[str], idx_key: str,
                    **info: Any) -> Path:
        """Write one fragment per field and the done marker into a temporary folder, then rename it."""
        final = self.shard_dir(shard)
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        ids = tuple(str(r[idx_key]) for r in records)
        expected = tuple(i for i in shard.ids if i not in info.get("bad_utts", {}))
        if ids != expected:
            raise RuntimeError(f"{final}: outputs are for ids {list(ids)[:3]}... but the shard holds "
                               f"{list(shard.ids)[:3]}...; output_fn must return each item's own {idx_key!r}")
        for field in fields or []:
            write_scp(tmp / f"{field}.scp", ((str(r[idx_key]), r[field]) for r in records))
        DoneMarker(tmp, SHARD_MARKER).write(self.fingerprint, fields=fields, utterances=len(records), **info)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        return final

    def assemble(self, shards: list[Shard]) -> list[str]:
        """Concatenate every field's fragments in shard order into ``<out_dir>/<field>.scp``; returns the fields.

        Every shard must be done and hold the same fields; the result holds each id once, in dataset order.
        """
        fields = None
        for shard in shards:
            if not self.is_done(shard):
                raise RuntimeError(f"{self.shard_dir(shard)} is not finished; run the infer stage again to resume")
            found = self.info(shard)["fields"]
            if found is None:  # every utterance of the shard was unreadable: nothing to add
                continue
            if fields is None:
                fields = found
            elif found != fields:
                raise ValueError(f"{self.shard_dir(shard)} holds fields {found} but {self.shard_dir(shards[0])} "
                                 f"holds {fields}; output_fn must return the same fields for every item "
                                 "(or set output_keys). If the shards were written by another output_fn or "
                                 f"an earlier Vocalis version, start over. {self.start_over_hint()}")
        for field in fields or []:
            tmp = self.out_dir / f"{field}.scp.partial"
            with open(tmp, "wb") as out:
                for shard in shards:
                    if self.info(shard)["fields"] is None:
                        continue
                    with open(self.shard_dir(shard) / f"{field}.scp", "rb") as fragment:
                        shutil.copyfileobj(fragment, out)
            os.replace(tmp, self.out_dir / f"{field}.scp")
        return list(fields or [])
