"""Speech2Text: a trained experiment as a callable ``waveform(s) -> {"text": ...}``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from omegaconf import OmegaConf

from vocalis.cpu_bfloat16 import warn_if_bfloat16_is_slow
from vocalis.data.collate import collate
from vocalis.data.pipeline import build_pipeline
from vocalis.data.pipeline_files import check_pipeline_files
from vocalis.decode.beam_search import BeamSearchOptions, Hypothesis, beam_search
from vocalis.decode.ctc_greedy import ctc_greedy
from vocalis.recipe import activate_recipe
from vocalis.stages.markers import DoneMarker
from vocalis.train.model_contract import frame_logits

log = logging.getLogger(__name__)
DECODE_METHODS = ("ctc_greedy", "beam")
# model.dtype -> autocast dtype; int8 runs a calibrated int8 copy of the model (vocalis.infer.int8) instead
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "int8": torch.float32}
INT8_CALIBRATION_UTTERANCES = 32


class Int8CalibrationDataError(RuntimeError):
    """The valid split that int8 records its activation ranges on cannot be read (or is empty)."""


def parse_decode(decode: str | dict) -> tuple[str, BeamSearchOptions | None]:
    """``ctc_greedy``, ``beam`` or ``{method: beam, beam_size: .., ctc_weight: .., penalty: ..,
    maxlenratio: .., nbest: ..}`` -> (method, beam options)."""
    options = dict(decode) if isinstance(decode, dict) or hasattr(decode, "keys") else {"method": decode}
    method = options.pop("method", "ctc_greedy")
    if method not in DECODE_METHODS:
        raise ValueError(f"decode: method {method!r} is not one of {DECODE_METHODS}")
    if method == "ctc_greedy":
        if options:
            raise ValueError(f"decode: ctc_greedy takes no options, got {sorted(options)}")
        return method, None
    try:
        return method, BeamSearchOptions(**options)
    except TypeError as err:
        fields = sorted(BeamSearchOptions.__dataclass_fields__)
        raise ValueError(f"decode: {err}; beam search options are {fields}") from err


def nbest_lists(hyps: list[Hypothesis], n: int, decode: Callable[[list[int]], str]) -> tuple[list[str], list[float]]:
    """The texts and scores of ``hyps`` (best first) padded to ``n`` with ``""`` / ``-inf``: a search
    may finish fewer than ``n`` hypotheses, and every utterance must give the same output fields."""
    missing = n - len(hyps)
    return [decode(h.tokens) for h in hyps] + [""] * missing, [h.score for h in hyps] + [float("-inf")] * missing


def find_checkpoint(exp_dir: Path, checkpoint: str) -> Path:
    """``best`` -> the averaged best weights, ``last`` -> ``last.pth``, else a path (absolute or in exp_dir)."""
    if checkpoint == "best":
        from vocalis.train.weights_io import best_weights_in

        return best_weights_in(exp_dir)
    path = exp_dir / "last.pth" if checkpoint == "last" else Path(checkpoint)
    path = path if path.is_absolute() else exp_dir / path
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist (model.checkpoint: {checkpoint!r})")
    return path


def checkpoint_files(exp_dir: Path, checkpoint: str) -> list[Path]:
    """The files whose bytes ``model.checkpoint`` loads: :func:`find_checkpoint`'s file, or for ``adapter``
    the adapter folder's files and the base weights of the experiment's ``init.sources``."""
    if checkpoint != "adapter":
        return [find_checkpoint(exp_dir, checkpoint)]
    from vocalis.train.weights_io import best_weights_in

    adapter = exp_dir / "adapter"
    if not adapter.is_dir():
        raise FileNotFoundError(f"{adapter} does not exist (model.checkpoint: adapter): train the experiment with a "
                                "peft: block, or decode another checkpoint (best, last, merged.pth)")
    cfg = OmegaConf.load(exp_dir / "config.yaml")
    bases = []
    for source in OmegaConf.to_container(cfg.get("init") or {}, resolve=True).get("sources") or []:
        path = Path(source["path"])
        path = path if path.is_absolute() else Path(cfg.recipe_dir) / path
        bases.append(best_weights_in(path) if path.is_dir() else path)
    return sorted(adapter.iterdir()) + bases


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """Load the state dict read from ``source`` strictly into ``model``."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise KeyError(f"{source} does not fit {type(model).__name__}: missing {missing[:5]}, unexpected "
                       f"{unexpected[:5]}; was it trained with this exp_dir's config.yaml?")


class Speech2Text:
    """Transcribe waveforms with the model, frontend and tokenizer of a trained experiment.

    Args:
        exp_dir: the experiment folder written by the train stage (holds ``config.yaml``).
        checkpoint: ``best`` (average of the best checkpoints), ``last``, or a weights path.
        device: torch device string.
        decode: ``ctc_greedy`` (every model with CTC logits) or ``beam`` / a dict of
            :class:`~vocalis.decode.beam_search.BeamSearchOptions` with ``method: beam``
            (joint CTC/attention; ``ctc_weight: 0`` = attention only) for models with a
            ``decoder`` (e.g. the built-in hybrid model).
        dtype: ``float32``, or ``bfloat16`` / ``float16`` to run the network's matrix products
            and convolutions under autocast (weights stay float32; softmax, normalisation and
            the search stay float32). bfloat16 is worth it on CPUs with AVX512-BF16 or AMX and
            on GPUs; check the WER against float32 on your own test set before switching.
            ``int8`` (CPU only) decodes with an int8 copy of the model whose conv-front ranges
            are recorded on the first 32 utterances of the experiment's valid split
            (:mod:`vocalis.infer.int8`); ~1.5x faster CTC greedy decoding on AVX2, and 1.4-1.7x
            faster batch-1 beam search on an AVX-512 AMD EPYC (``bench/README.md``).
        int8_ranges: with ``dtype: int8``, conv-front ranges recorded earlier
            (:meth:`record_int8_ranges`; a bundle keeps them), so the valid split need not be
            readable here.

    ``model(speech)`` with a ``(N,)`` float waveform returns ``{"text": str}``;
    with a list of waveforms it returns a list of such dicts, decoded as one padded batch.
    Beam search adds ``"score"``, the best hypothesis' search score (its weighted CTC and
    attention log-probabilities plus the length penalty), and with
    ``nbest: N > 1`` also ``"nbest"`` (N texts, best first) and ``"nbest_scores"`` (N floats).
    The lists always hold N entries: when the search finished fewer hypotheses (it prunes
    those that can no longer win), the missing ranks are ``""`` with score ``-inf``, so every
    utterance has the same fields.
    """

    def __init__(self, exp_dir: str | Path, checkpoint: str = "best", device: str = "cpu",
                 decode: str | dict = "ctc_greedy", dtype: str = "float32", int8_ranges: dict | None = None):
        self.method, self.beam_options = parse_decode(decode)
        if dtype not in DTYPES:
            raise ValueError(f"model.dtype {dtype!r} is not one of {sorted(DTYPES)}")
        self.dtype = DTYPES[dtype]
        self.exp_dir = Path(exp_dir)
        config_file = self.exp_dir / "config.yaml"
        if not config_file.is_file():
            raise FileNotFoundError(f"{config_file} does not exist: train the experiment first (stage train)")
        self.cfg = OmegaConf.load(config_file)
        trained = DoneMarker(self.exp_dir, "train").info() or {}  # absent in a bundle, which carries its own copies
        check_pipeline_files(self.cfg, trained.get("inputs"), self.exp_dir, "decode with it")
        if Path(self.cfg.recipe_dir).is_dir():
            activate_recipe(self.cfg.recipe_dir)
        self.pipeline = build_pipeline(self.cfg)
        self.tokenizer = self.pipeline.tokenizer
        self.model, self.checkpoint_path = self._load_model(checkpoint)
        self.device = torch.device(device)
        if self.dtype == torch.bfloat16 and self.device.type == "cpu":
            warn_if_bfloat16_is_slow("model.dtype: bfloat16", "model.dtype: float32 (or int8)")
        self.model.to(self.device).eval()
        if dtype == "int8":
            from vocalis.infer.int8 import quantize_int8

            self._require_cpu_for_int8()
            ranges = int8_ranges if int8_ranges is not None else self.record_int8_ranges()
            self.model = quantize_int8(self.model, ranges)
        if self.method == "beam" and getattr(self.model, "decoder", None) is None:
            raise ValueError(f"decode: beam needs a model with an attention decoder; {type(self.model).__name__} "
                             "has none (use decode: ctc_greedy)")
        uses_ctc = self.method == "ctc_greedy" or self.beam_options.ctc_weight > 0
        if uses_ctc and hasattr(self.model, "ctc_head") and self.model.ctc_head is None:
            raise ValueError(f"decode: {self.method} uses CTC, but this model was trained attention-only "
                             "(model_conf.ctc_weight: 0) and has no CTC head; decode it with "
                             "decode: {method: beam, ctc_weight: 0}")

    def _load_model(self, checkpoint: str) -> tuple[torch.nn.Module, Path]:
        """The trained model; with ``peft:`` either full LoRA weights, ``merged.pth`` (plain
        weights) or ``adapter`` (the init sources' base weights + ``adapter/``)."""
        from vocalis.train.model_from_config import build_model
        from vocalis.train.init_weights import apply_init
        from vocalis.train.lora import apply_lora, load_adapter
        from vocalis.train.weights_io import read_weights

        if checkpoint == "adapter":
            if not self.cfg.get("peft") or not self.cfg.get("init"):
                raise ValueError(f"checkpoint: adapter needs an experiment trained with peft: and init: blocks; "
                                 f"{self.exp_dir}/config.yaml has peft={self.cfg.get('peft')}")
            model = build_model(self.cfg, with_peft=False)
            apply_init(model, OmegaConf.to_container(self.cfg.init, resolve=True), self.cfg.recipe_dir)
            apply_lora(model, OmegaConf.to_container(self.cfg.peft, resolve=True))
            load_adapter(model, self.exp_dir / "adapter")
            return model, self.exp_dir / "adapter" / "adapter_model.safetensors"
        path = find_checkpoint(self.exp_dir, checkpoint)
        state = read_weights(path)  # read once: it also tells whether a peft run's weights are merged
        merged = bool(self.cfg.get("peft")) and not any(".lora_A." in k for k in state)
        model = build_model(self.cfg, with_peft=not merged)
        load_weights(model, state, path)
        return model, path

    def record_int8_ranges(self) -> dict[str, list[float]]:
        """The conv fronts' activation ranges (:func:`~vocalis.infer.int8.recording_front_ranges`)
        over the first utterances of the valid split in ``config.yaml``, through this float model;
        ``{}`` without reading data for a model with no conv front (its int8 copy needs none)."""
        from vocalis.data.organizer import DataOrganizer
        from vocalis.infer.int8 import conv_fronts, recording_front_ranges

        self._require_cpu_for_int8()
        if not conv_fronts(self.model):
            return {}
        where = f"{self.exp_dir}/config.yaml dataset.valid"
        try:
            valid = DataOrganizer(self.cfg.dataset, self.cfg.recipe_dir).split("valid")
            waves = [valid[i]["speech"] for i in range(min(INT8_CALIBRATION_UTTERANCES, len(valid)))]
        except (OSError, KeyError, ValueError) as err:
            raise Int8CalibrationDataError(f"model.dtype int8 records its activation ranges on {where}, which "
                                           f"cannot be read here ({err}); make that data reachable or use dtype "
                                           "float32") from err
        if not waves:
            raise Int8CalibrationDataError(f"model.dtype int8 records its activation ranges on {where}, which is empty")
        with recording_front_ranges(self.model) as ranges, torch.inference_mode():
            for i in range(0, len(waves), 8):
                batch = collate([{"speech": self.pipeline.features(w)} for w in waves[i:i + 8]])
                if hasattr(self.model, "encode"):  # the conv front is in the encoder; an attention-only model has no CTC head
                    self.model.encode(batch["speech"], batch["speech_lengths"])
                else:
                    frame_logits(self.model, batch)
        log.info("int8: activation ranges from %d utterances of %s", len(waves), where)
        return ranges

    def _require_cpu_for_int8(self) -> None:
        if self.device.type != "cpu":
            raise ValueError(f"model.dtype int8 runs on CPU only, not on {self.device}; use bfloat16 or float16 there")

    @torch.inference_mode()
    def transcribe(self, waveforms: Sequence[Any]) -> list[dict]:
        feats = [{"speech": self.pipeline.features(w)} for w in waveforms]
        batch = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in collate(feats).items()}
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            return self._decode(batch)

    def _decode(self, batch: dict) -> list[dict]:
        if self.method == "ctc_greedy":
            logits, lengths = frame_logits(self.model, batch)
            return [{"text": self.tokenizer.decode(ids)} for ids in ctc_greedy(logits, lengths)]
        enc, lengths = self.model.encode(batch["speech"], batch["speech_lengths"])
        opts = self.beam_options
        nbest = beam_search(self.model.decoder, self.model.ctc_head if opts.ctc_weight > 0 else None, enc, lengths,
                            self.model.sos_eos_id, opts)
        results = []
        for hyps in nbest:
            out = {"text": self.tokenizer.decode(hyps[0].tokens), "score": hyps[0].score}
            if opts.nbest > 1:
                out["nbest"], out["nbest_scores"] = nbest_lists(hyps, opts.nbest, self.tokenizer.decode)
            results.append(out)
        return results

    def __call__(self, speech: Any) -> dict | list[dict]:
        single = isinstance(speech, (np.ndarray, torch.Tensor)) and speech.ndim == 1
        results = self.transcribe([speech] if single else list(speech))
        return results[0] if single else results
