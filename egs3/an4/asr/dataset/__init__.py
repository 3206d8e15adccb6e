"""AN4 from a local copy: manifests train_nodev, train_dev (first 100 train utterances), test."""

from .builder import DatasetBuilder
from .dataset import Dataset

__all__ = ["Dataset", "DatasetBuilder"]
