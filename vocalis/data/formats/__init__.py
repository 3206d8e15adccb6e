"""Readers for corpus formats people already have: LibriSpeech, Kaldi data dirs, JSONL (and TSV).

Each reader returns rows ``{utt_id, audio, text, offset, duration}``; each dataset yields
``{"utt_id", "speech": float32 (N,), "text"}`` items and offers ``get_text`` and
``durations()``. TSV manifests are :class:`vocalis.data.manifest.ManifestDataset`.
"""

from vocalis.data.manifest import ManifestDataset

from .base import UtteranceDataset, read_pipe
from .jsonl import JsonlDataset, read_jsonl
from .kaldi import KaldiDataDir, read_kaldi_dir
from .librispeech import LibriSpeechDataset, read_librispeech

__all__ = ["JsonlDataset", "KaldiDataDir", "LibriSpeechDataset", "ManifestDataset", "UtteranceDataset",
           "read_jsonl", "read_kaldi_dir", "read_librispeech", "read_pipe"]
