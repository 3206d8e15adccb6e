"""Spoken digit strings made on this machine: TTS voices for train/valid/test, a human voice for test_human."""

from .builder import DatasetBuilder
from .dataset import Dataset

__all__ = ["Dataset", "DatasetBuilder"]
