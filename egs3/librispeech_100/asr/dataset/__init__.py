"""LibriSpeech 100 h from a local copy: manifests per subset (train_clean_100, dev_*, test_*)."""

from .builder import DatasetBuilder
from .dataset import Dataset

__all__ = ["Dataset", "DatasetBuilder"]
