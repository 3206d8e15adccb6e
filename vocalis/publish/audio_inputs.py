"""What ``vocalis transcribe`` reads: audio files, folders of them, or Kaldi ``wav.scp`` lists."""

from __future__ import annotations

from pathlib import Path

from vocalis.infer.scp import check_utt_id, read_scp

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".sph")


def _utt_id(text: str) -> str:
    return "_".join(text.split())  # ids are one token: spaces in file names become '_'


def _from_folder(folder: Path) -> list[tuple[str, Path]]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{folder} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    return [(_utt_id(p.relative_to(folder).with_suffix("").as_posix()), p) for p in files]


def _from_scp(scp: Path) -> list[tuple[str, Path]]:
    out = []
    for utt_id, value in read_scp(scp).items():
        path = Path(value.strip())  # wav.scp lines may align their paths with extra blanks
        if not path.is_absolute() and not path.exists():
            path = scp.parent / path  # relative to the list when not relative to the working folder
        out.append((check_utt_id(utt_id, str(scp)), path))
    return out


def list_audio_inputs(args: list[str]) -> list[tuple[str, Path]]:
    """``(utt_id, path)`` pairs in the given order: a file's id is its name without suffix, a folder's
    files (sorted, recursive) are named by their path inside it, a ``.scp`` gives its own ids."""
    pairs: list[tuple[str, Path]] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            pairs += _from_folder(path)
        elif path.suffix == ".scp" and path.is_file():
            pairs += _from_scp(path)
        elif path.is_file():
            pairs.append((_utt_id(path.stem), path))
        else:
            raise FileNotFoundError(f"{arg}: no such audio file, folder or wav.scp")
    seen: dict[str, Path] = {}
    for utt_id, path in pairs:
        if utt_id in seen:
            raise ValueError(f"two inputs get the id {utt_id!r} ({seen[utt_id]} and {path}); rename one, or list "
                             "them in a wav.scp with ids of your choice")
        seen[utt_id] = path
    return pairs
