"""Writers for non-scalar outputs: the value goes to a file, the scp line holds its path.

``output_artifacts`` in inference.yaml maps a field to a writer::

    output_artifacts:
      enhanced: {type: wav, sample_rate: 16000}   # (N,) waveform -> <test>/enhanced/<utt_id>.wav
      logits: {type: npy}                         # array / tensor -> .npy
      details: {type: json}                       # dict / list -> .json

Fields not listed get ``json`` for dicts and lists and ``npy`` for arrays and tensors.
Files are written atomically, so a re-run shard simply replaces them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from vocalis.data.audio import write_audio

SCALARS = (str, int, float, bool)


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    write(tmp)
    os.replace(tmp, path)
    return path


def write_npy(value: Any, path: Path) -> Path:
    def save(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, _as_array(value), allow_pickle=False)

    return _atomic(path, save)


def write_json(value: Any, path: Path) -> Path:
    return _atomic(path, lambda tmp: tmp.write_text(json.dumps(value, ensure_ascii=False, default=_jsonable)))


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return _as_array(value).tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_wav(value: Any, path: Path, sample_rate: int) -> Path:
    wave = _as_array(value).astype(np.float32)
    if wave.ndim != 1:
        raise ValueError(f"{path}: a wav output must be a mono waveform (N,), got shape {wave.shape}")
    write_audio(path, wave, sample_rate)
    return path


WRITERS = {"wav": ".wav", "npy": ".npy", "json": ".json"}


class ArtifactWriter:
    """Turn one output value into an scp value: scalars stay inline, the rest become files.

    Args:
        specs: the ``output_artifacts`` mapping ``{field: {type: wav|npy|json, sample_rate?}}``.
        out_dir: ``<inference_dir>/<test>``; files go to ``<out_dir>/<field>/<utt_id>.<ext>``.
    """

    def __init__(self, specs: dict[str, dict] | None, out_dir: str | Path):
        self.specs = dict(specs or {})
        self.out_dir = Path(out_dir)
        for field, spec in self.specs.items():
            kind = (spec or {}).get("type")
            if kind not in WRITERS:
                raise ValueError(f"output_artifacts.{field}.type: {kind!r} is not one of {sorted(WRITERS)}")
            if kind == "wav" and not spec.get("sample_rate"):
                raise ValueError(f"output_artifacts.{field}: a wav writer needs sample_rate (e.g. 16000)")
            unknown = set(spec) - {"type", "sample_rate"}
            if unknown:
                raise ValueError(f"output_artifacts.{field}: unknown keys {sorted(unknown)} (known: type, sample_rate)")

    def _kind(self, field: str, value: Any, utt_id: str) -> str | None:
        if field in self.specs:
            return self.specs[field]["type"]
        if isinstance(value, SCALARS):
            return None
        if isinstance(value, (dict, list, tuple)):
            return "json"
        if isinstance(value, (np.ndarray, torch.Tensor, np.generic)):
            return "npy"
        raise TypeError(f"output field {field!r} of utterance {utt_id} is a {type(value).__name__}; scp fields "
                        "must be str/int/float/bool, or list the field in output_artifacts "
                        "(type: wav, npy or json)")

    def __call__(self, field: str, value: Any, utt_id: str) -> Any:
        """The scp value of ``field``: the value itself, or the absolute path of the file written."""
        kind = self._kind(field, value, utt_id)
        if kind is None:
            return value
        path = (self.out_dir / field / f"{utt_id}{WRITERS[kind]}").resolve()
        if kind == "wav":
            write_wav(value, path, int(self.specs[field]["sample_rate"]))
        elif kind == "npy":
            write_npy(value, path)
        else:
            write_json(value, path)
        return str(path)
