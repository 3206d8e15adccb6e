"""One LibriSpeech subset: items ``{"utt_id", "speech": float32 (N,) at 16 kHz, "text"}``."""

from __future__ import annotations

from pathlib import Path

from vocalis.data.manifest import ManifestDataset


class Dataset(ManifestDataset):
    """Read ``<manifest_dir>/<split>.tsv`` written by the builder (e.g. ``split: train_clean_100``)."""

    def __init__(self, manifest_dir: str | Path, split: str):
        super().__init__(manifest_dir, split, sample_rate=16000)
