"""Kaldi data directories: ``wav.scp``, ``text``, ``utt2spk`` and optional ``segments``.

- ``wav.scp``: ``<recording-id> <path>`` or ``<recording-id> <command> |`` (a pipe whose
  output is the audio, e.g. ``sox a.flac -t wav - |``, ``flac -c -d -s a.flac |``).
- ``text``: ``<utt-id> <transcript>``; ``utt2spk``: ``<utt-id> <speaker-id>``.
- ``segments`` (optional): ``<utt-id> <recording-id> <start-s> <end-s>``; without it the
  recording ids are the utterance ids.
- ``utt2dur`` (optional): ``<utt-id> <seconds>`` saves reading headers for batching.

Relative paths and pipe commands start from ``cwd`` (Kaldi runs them from the recipe
folder; here the default is the data directory's parent's parent, i.e. ``data/train`` ->
the folder holding ``data/``).
"""

from __future__ import annotations

from pathlib import Path

from .base import UtteranceDataset

__all__ = ["Dataset", "KaldiDataDir", "read_kaldi_dir"]


def _read_table(path: Path, min_fields: int, required: bool = True) -> dict[str, list[str]] | None:
    """``key -> rest`` of a Kaldi table file; the rest keeps the remaining fields (split once for text)."""
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"{path} is missing; a Kaldi data dir needs wav.scp, text and utt2spk "
                                    "(segments and utt2dur are optional)")
        return None
    table: dict[str, list[str]] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        key, _, rest = line.strip().partition(" ")
        fields = [rest.strip()] if path.name in ("text", "wav.scp") else rest.split()
        if len(rest.split()) < min_fields - 1:
            raise ValueError(f"{path}:{lineno}: expected at least {min_fields} fields, got {line!r}")
        if key in table:
            raise ValueError(f"{path}:{lineno}: {key!r} appears twice; ids must be unique (run utils/fix_data_dir.sh)")
        table[key] = fields
    return table


def read_kaldi_dir(data_dir: str | Path) -> list[dict]:
    """Rows ``{utt_id, audio, text, offset, duration, speaker}`` in ``text`` order (sorted like Kaldi).

    Raises:
        FileNotFoundError: a required file is missing.
        ValueError: ids that do not match between the files (names the file and id).
    """
    data_dir = Path(data_dir)
    wav = _read_table(data_dir / "wav.scp", 2)
    text = _read_table(data_dir / "text", 1)
    utt2spk = _read_table(data_dir / "utt2spk", 2)
    segments = _read_table(data_dir / "segments", 4, required=False)
    utt2dur = _read_table(data_dir / "utt2dur", 2, required=False) or {}
    rows = []
    for utt_id in sorted(text):
        if utt_id not in utt2spk:
            raise ValueError(f"{data_dir}/utt2spk has no entry for utterance {utt_id} (listed in text)")
        if segments is not None:
            if utt_id not in segments:
                raise ValueError(f"{data_dir}/segments has no entry for utterance {utt_id} (listed in text)")
            rec, start, end = segments[utt_id][0], float(segments[utt_id][1]), float(segments[utt_id][2])
            if end <= start:
                raise ValueError(f"{data_dir}/segments: utterance {utt_id} ends ({end}) before it starts ({start})")
            offset, duration = start, end - start
        else:
            rec, offset, duration = utt_id, 0.0, float(utt2dur[utt_id][0]) if utt_id in utt2dur else None
        if rec not in wav:
            raise ValueError(f"{data_dir}/wav.scp has no recording {rec!r} (needed by utterance {utt_id})")
        rows.append({"utt_id": utt_id, "audio": wav[rec][0], "text": text[utt_id][0], "offset": offset,
                     "duration": duration, "excerpt": segments is not None, "speaker": utt2spk[utt_id][0]})
    if not rows:
        raise ValueError(f"{data_dir}/text lists no utterances")
    return rows


class KaldiDataDir(UtteranceDataset):
    """A Kaldi data directory as a dataset (items ``{"utt_id", "speech", "text"}``).

    Args:
        data_dir: e.g. ``data/train`` of a Kaldi or ESPnet recipe.
        cwd: where relative paths and pipes start; default ``data_dir/../..``.
        sample_rate: audio at another rate is resampled (``on_rate_mismatch="resample"``) or refused.
    """

    def __init__(self, data_dir: str | Path, cwd: str | Path | None = None, sample_rate: int = 16000,
                 on_rate_mismatch: str = "resample"):
        data_dir = Path(data_dir).resolve()
        super().__init__(read_kaldi_dir(data_dir), sample_rate, on_rate_mismatch,
                         cwd=Path(cwd) if cwd is not None else data_dir.parent.parent)

    def speakers(self) -> list[str]:
        return [r["speaker"] for r in self.rows]


Dataset = KaldiDataDir  # so ``data_src: vocalis.data.formats.kaldi`` works in a config
