"""The digits corpus as a dataset: items ``{"utt_id", "speech": float32 (N,) at 16 kHz, "text"}``."""

from __future__ import annotations

from pathlib import Path

from vocalis.data.manifest import ManifestDataset


class Dataset(ManifestDataset):
    """One split of the digits corpus, read from ``<manifest_dir>/<split>.tsv``.

    Args:
        manifest_dir: ``<data_dir>/manifest`` of a built corpus.
        split: ``train``, ``valid``, ``test`` or ``test_human``.
    """

    def __init__(self, manifest_dir: str | Path, split: str):
        super().__init__(manifest_dir, split, sample_rate=16000)
