"""InferenceModel: a packed bundle as a callable, ``model("a.wav") -> {"text": ...}``.

Loading checks every file against ``meta.yaml`` and refuses bundles that would run
their own code (``src/``) unless the caller says it trusts them. Decoding is the
recipe's own: the bundle is rebuilt into the same :class:`Speech2Text` the infer stage uses.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
import yaml
from omegaconf import OmegaConf
from safetensors.torch import load_file

from vocalis.data.audio import load_audio, resample
from vocalis.publish.meta import verify_bundle

AudioInput = str | Path | np.ndarray | torch.Tensor


class UntrustedCodeError(PermissionError):
    """The bundle needs its own Python code and the caller did not trust it."""


def _absolute_config(bundle: Path, recipe_dir: Path) -> dict:
    """The bundle's config.yaml with its bundle-relative paths made absolute."""
    cfg = OmegaConf.to_container(OmegaConf.load(bundle / "config.yaml"), resolve=False)
    cfg.update(recipe_dir=str(recipe_dir), data_dir=str(bundle), stats_dir=str(bundle / "stats"))
    cfg["tokenizer"] = {**cfg["tokenizer"], "save_path": str(bundle / "tokenizer")}
    return OmegaConf.to_container(OmegaConf.create(cfg), resolve=True)  # interpolations see the bundle's paths


def _bundle_int8_ranges(bundle: Path) -> dict:
    """The int8 conv-front ranges the pack stage recorded for this bundle's weights."""
    from vocalis.publish.pack import INT8_RANGES_FILE

    path = bundle / INT8_RANGES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{bundle} has no {INT8_RANGES_FILE}: it was packed where the valid split could "
                                "not be read, so it cannot decode with dtype int8; pack it again where the training "
                                "data is, or use dtype float32")
    return json.loads(path.read_text())


@contextlib.contextmanager
def _no_bytecode_written() -> Iterator[None]:
    """Import without writing ``__pycache__`` (into a bundle's ``src/``, which its meta.yaml then refuses)."""
    before = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = before


class InferenceModel:
    """A bundle loaded for inference; build it with :meth:`from_packed`.

    ``model(x)`` takes a path, a ``(N,)`` waveform (with ``sample_rate``), or a list of either
    (decoded in batches of ``batch_size``) and returns ``{"text": ...}`` or a list of them.
    """

    def __init__(self, speech2text: Any, bundle: Path, meta: dict, sample_rate: int, batch_size: int):
        self.speech2text, self.bundle, self.meta = speech2text, bundle, meta
        self.sample_rate, self.batch_size = sample_rate, batch_size

    @classmethod
    def from_packed(cls, path: str | Path, trust_user_code: bool = False, device: str = "cpu",
                    decode: str | dict | None = None, batch_size: int | None = None,
                    dtype: str | None = None) -> "InferenceModel":
        """Load the bundle folder ``path``.

        Args:
            trust_user_code: allow a bundle that carries recipe code (``src/``) to import and run it.
            device: torch device.
            decode: decoding settings instead of the bundle's (e.g. ``ctc_greedy``).
            batch_size: waveforms per model call for lists of inputs; default: the bundle's.
            dtype: ``float32`` / ``bfloat16`` / ``float16`` autocast, or ``int8`` (CPU: an int8 copy
                quantized with the bundle's ``int8_ranges.json``); default: the bundle's.

        Raises:
            BundleIntegrityError: a file differs from meta.yaml (changed, missing or added).
            UntrustedCodeError: the bundle needs ``src/`` and ``trust_user_code`` is False.
            FileNotFoundError: ``dtype`` int8 for a bundle packed without ``int8_ranges.json``.
        """
        bundle = Path(path).resolve()
        meta = verify_bundle(bundle)
        if meta.get("needs_user_code") and not trust_user_code:
            raise UntrustedCodeError(f"{bundle} runs its own code ({', '.join(meta.get('user_code_targets') or ['src/'])}); "
                                     "read its src/ and pass trust_user_code=True (CLI: --trust_user_code) if you "
                                     "trust it")
        settings = yaml.safe_load((bundle / "inference.yaml").read_text()) or {}
        node = settings.get("model") or {}
        dtype = dtype or node.get("dtype", "float32")
        int8_ranges = _bundle_int8_ranges(bundle) if dtype == "int8" else None
        from vocalis.infer.speech2text import Speech2Text

        with tempfile.TemporaryDirectory(prefix="vocalis_bundle_") as tmp:
            exp = Path(tmp)
            # recipe_dir: the bundle when its src/ is trusted, else a folder that does not exist (nothing imported)
            cfg = _absolute_config(bundle, bundle if meta.get("needs_user_code") else exp / "no_recipe_code")
            (exp / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(cfg)))
            torch.save(load_file(str(bundle / node.get("checkpoint", "model.safetensors"))), exp / "model.pth")
            with _no_bytecode_written():  # the bundle's src/ stays as meta.yaml lists it
                speech2text = Speech2Text(exp, checkpoint=str(exp / "model.pth"), device=device,
                                          decode=decode if decode is not None else node.get("decode", "ctc_greedy"),
                                          dtype=dtype, int8_ranges=int8_ranges)
        rate = int((cfg.get("frontend") or {}).get("sample_rate", 16000))
        return cls(speech2text, bundle, meta, rate, int(batch_size or settings.get("batch_size") or 16))

    def _waveform(self, audio: AudioInput, sample_rate: int | None) -> np.ndarray:
        if isinstance(audio, (str, Path)):
            return load_audio(audio, self.sample_rate)[0]
        wave = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
        if wave.ndim != 1:
            raise ValueError(f"a waveform must be mono (N,), got shape {wave.shape}; pass one channel")
        if sample_rate is None:
            raise ValueError(f"pass sample_rate with a waveform (the model expects {self.sample_rate} Hz audio)")
        wave = wave.astype(np.float32)
        return resample(wave, sample_rate, self.sample_rate) if sample_rate != self.sample_rate else wave

    def transcribe(self, inputs: Sequence[AudioInput], sample_rate: int | None = None) -> Iterable[dict]:
        """Outputs for many inputs, decoded ``batch_size`` at a time, in input order (a generator)."""
        for lo in range(0, len(inputs), self.batch_size):
            waves = [self._waveform(x, sample_rate) for x in inputs[lo:lo + self.batch_size]]
            yield from self.speech2text(waves)

    def __call__(self, audio: AudioInput | Sequence[AudioInput], sample_rate: int | None = None) -> dict | list[dict]:
        if isinstance(audio, (str, Path, np.ndarray, torch.Tensor)):
            return list(self.transcribe([audio], sample_rate))[0]
        return list(self.transcribe(list(audio), sample_rate))
