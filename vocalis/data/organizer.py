"""DataOrganizer: the ``dataset:`` block of a config turned into train / valid / test datasets.

Each split is a list of entries ``{data_src, data_src_args, name, transform}``; entries of
one split are concatenated. Every item is a dict of named fields and carries a string
``utt_id`` (the dataset's own, or ``<split>-<index>`` when it has none).
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from vocalis.config.instantiate import instantiate
from vocalis.recipe import load_data_module


class CombinedDataset:
    """Concatenation of datasets with one cumulative index and a common set of fields."""

    def __init__(self, parts: list[Any], transforms: list[Callable | None], split: str, sources: list[str]):
        if not parts:
            raise ValueError(f"dataset.{split} has no entries")
        self.parts, self.transforms, self.split, self.sources = parts, transforms, split, sources
        self.offsets = [0]
        for part in parts:
            self.offsets.append(self.offsets[-1] + len(part))
        self._check_fields()

    def _check_fields(self) -> None:
        fields = None
        for k, part in enumerate(self.parts):
            if len(part) == 0:
                raise ValueError(f"dataset.{self.split}[{k}] ({self.sources[k]}) is empty; did create_dataset run?")
            keys = set(self._first_readable_item(k)) - {"utt_id"}
            if fields is None:
                fields = keys
            elif keys != fields:
                raise ValueError(f"dataset.{self.split}[{k}] ({self.sources[k]}) yields fields {sorted(keys)} but "
                                 f"dataset.{self.split}[0] yields {sorted(fields)}; items of one split must have "
                                 "the same fields (add a transform to rename or drop fields)")

    def _first_readable_item(self, part: int, tries: int = 10) -> dict:
        """An item of ``part`` to check fields with; unreadable audio is the stages' to report, not this check's."""
        from vocalis.data.audio import AudioError

        for local in range(min(tries, len(self.parts[part]))):
            try:
                return self._item(part, local)
            except AudioError as err:
                last = err
        raise last

    def __len__(self) -> int:
        return self.offsets[-1]

    def _locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for dataset.{self.split} of {len(self)} items")
        part = bisect.bisect_right(self.offsets, index) - 1
        return part, index - self.offsets[part]

    def _item(self, part: int, local: int) -> dict:
        item = self.parts[part][local]
        if not isinstance(item, dict):
            raise TypeError(f"{type(self.parts[part]).__name__}[{local}] ({self.sources[part]}) returned "
                            f"{type(item).__name__}; a dataset item must be a dict of named fields like "
                            "{'speech': waveform, 'text': str}")
        if self.transforms[part] is not None:
            item = self.transforms[part](item)
        return item

    def __getitem__(self, index: int) -> dict:
        part, local = self._locate(index)
        item = dict(self._item(part, local))
        item.setdefault("utt_id", f"{self.split}-{index}")
        return item

    def utt_id(self, index: int) -> str:
        """The id of item ``index`` without loading audio when the dataset offers ``utt_id(i)``."""
        part, local = self._locate(index)
        dataset = self.parts[part]
        if callable(getattr(dataset, "utt_id", None)):
            return str(dataset.utt_id(local))
        return f"{self.split}-{index}"

    def get_text(self, index: int) -> str:
        """Transcript of item ``index`` without loading audio when the dataset offers ``get_text``."""
        part, local = self._locate(index)
        dataset = self.parts[part]
        if hasattr(dataset, "get_text") and self.transforms[part] is None:
            return dataset.get_text(local)
        return self[index]["text"]


class DataOrganizer:
    """Build the datasets named in a config's ``dataset:`` block.

    Args:
        dataset_cfg: the ``dataset`` node (``train``, ``valid``, ``test`` lists).
        recipe_dir: folder whose ``dataset/`` package serves entries without ``data_src``.
    """

    def __init__(self, dataset_cfg: DictConfig | dict, recipe_dir: str | Path):
        self.cfg = OmegaConf.create(dataset_cfg) if isinstance(dataset_cfg, dict) else dataset_cfg
        self.recipe_dir = Path(recipe_dir)

    def _entries(self, split: str) -> list[DictConfig]:
        entries = self.cfg.get(split) or []
        return list(entries)

    def _build_entry(self, entry: DictConfig, where: str) -> tuple[Any, Callable | None, str]:
        source = entry.get("data_src") or "dataset/ (this recipe)"
        module = load_data_module(entry.get("data_src"), self.recipe_dir)
        if not hasattr(module, "Dataset"):
            raise AttributeError(f"{where}: {module.__name__} does not export 'Dataset'")
        args = OmegaConf.to_container(entry.get("data_src_args") or {}, resolve=True)
        try:
            dataset = module.Dataset(**args)
        except TypeError as err:
            raise TypeError(f"{where}: {module.__name__}.Dataset(**data_src_args) failed: {err}") from err
        transform = entry.get("transform")
        transform = instantiate(transform, f"{where}.transform") if transform else None
        return dataset, transform, str(source)

    def split(self, split: str) -> CombinedDataset:
        """The concatenated dataset of ``train`` or ``valid``."""
        built = [self._build_entry(e, f"dataset.{split}[{i}]") for i, e in enumerate(self._entries(split))]
        return CombinedDataset([b[0] for b in built], [b[1] for b in built], split, [b[2] for b in built])

    def test_names(self) -> list[str]:
        names = [str(e.get("name") or "") for e in self._entries("test")]
        if not names:
            raise ValueError("dataset.test has no entries; list the test sets with a name each")
        if any(not n for n in names) or len(set(names)) != len(names):
            raise ValueError(f"every dataset.test entry needs a unique non-empty name; found {names}")
        return names

    def test(self, name: str) -> CombinedDataset:
        """One named test set."""
        names = self.test_names()
        if name not in names:
            raise KeyError(f"no test set {name!r}; dataset.test names: {names}")
        i = names.index(name)
        dataset, transform, source = self._build_entry(self._entries("test")[i], f"dataset.test[{i}]")
        return CombinedDataset([dataset], [transform], name, [source])

    def data_sources(self) -> list[str | None]:
        """Unique ``data_src`` values over all splits, in first-seen order (None = this recipe)."""
        seen: list[str | None] = []
        for split in ("train", "valid", "test"):
            for entry in self._entries(split):
                src = entry.get("data_src")
                if src not in seen:
                    seen.append(src)
        return seen
