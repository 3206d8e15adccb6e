"""The ASR task bridge: ESPnet2-style named choices -> a direct ``model: {_target_: ...}`` config.

training.yaml may say::

    task: asr
    encoder: conformer
    encoder_conf: {output_size: 144, num_blocks: 4, ...}
    decoder: transformer
    decoder_conf: {num_blocks: 2, ...}
    model_conf: {ctc_weight: 0.3, lsm_weight: 0.1}
    specaug: specaug                  # -> augment.specaug (train-time SpecAugment in the data pipeline)
    specaug_conf: {num_freq_mask: 2, num_time_mask: 2}

:meth:`ASRTask.to_direct_config` rewrites that into the config a user would write by
hand (``task`` unset, ``model._target_: ...HybridCTCAttentionModel`` with nested
encoder/decoder nodes). The train stage saves that to ``exp_dir/config.yaml``; copying
its ``model:`` block into a recipe (or into ``src/model.py``'s constructor call) ejects
from the task with the same parameters.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from vocalis.config.instantiate import accepted_kwargs, import_target
from vocalis.config.schema import ConfigKeyError, suggest
from vocalis.tasks.asr.espnet_conf import translate_conf, translate_frontend_conf
from vocalis.tasks.asr.hybrid_model import read_token_list

ENCODERS = {
    "transformer": "vocalis.tasks.asr.transformer_encoder.TransformerEncoder",
    "conformer": "vocalis.tasks.asr.conformer.ConformerEncoder",
    "e_branchformer": "vocalis.tasks.asr.e_branchformer.EBranchformerEncoder",
}
DECODERS = {"transformer": "vocalis.tasks.asr.decoder.TransformerDecoder", "none": None}
FRONTENDS = {"fbank": "vocalis.data.features.Fbank"}
MODEL = "vocalis.tasks.asr.hybrid_model.HybridCTCAttentionModel"
MODEL_CONF_KEYS = ("ctc_weight", "lsm_weight", "length_normalized_loss", "interctc_weight")
SPECAUGS = {"specaug": "vocalis.data.augment.SpecAugment", "none": None}
TASK_KEYS = ("encoder", "encoder_conf", "decoder", "decoder_conf", "model_conf", "frontend_conf", "specaug",
             "specaug_conf")


def _choice(kind: str, name: str | None, choices: dict) -> str | None:
    if name is None:
        raise ConfigKeyError(f"task: asr needs {kind}: one of {', '.join(choices)}")
    if name not in choices:
        raise ConfigKeyError(f"{kind}: {name!r} is not a choice of task asr{suggest(str(name), list(choices))}; "
                             f"choices: {', '.join(choices)}")
    return choices[name]


def _tokenizer_vocab_size(cfg: DictConfig) -> int:
    """The token count the train_tokenizer stage wrote (``tokens.txt``), else ``tokenizer.vocab_size``.

    Word and char tokenizers take their size from the text, so the trained list may be shorter
    than the configured size; the model's output layer follows the list."""
    tokens = Path(str(cfg.tokenizer.save_path)) / "tokens.txt"
    return len(read_token_list(tokens)) if tokens.is_file() else int(cfg.tokenizer.vocab_size)


def _block_conf(kind: str, name: str, target: str, cfg: DictConfig) -> dict:
    """``cfg.<kind>`` (encoder_conf / decoder_conf) with ESPnet2's keys read (:func:`translate_conf`)."""
    return translate_conf(kind, name, _plain(cfg.get(kind)), accepted_kwargs(import_target(target, kind)))


def _plain(node) -> dict:
    return OmegaConf.to_container(node, resolve=True) if node is not None else {}


class ASRTask:
    """Speech recognition: fbank frontend, transformer/conformer/e-branchformer encoder,
    CTC head and optional transformer decoder trained with the hybrid loss."""

    name = "asr"

    def to_direct_config(self, cfg: DictConfig) -> DictConfig:
        """A copy of ``cfg`` with ``task`` unset and the model spelled out as ``_target_`` nodes."""
        out = cfg.copy()
        frontend = self._frontend(cfg)
        feature_dim = int(frontend.get("n_mels", 80)) + int(bool(frontend.get("use_energy", False)))
        encoder_name = cfg.get("encoder")
        encoder_target = _choice("encoder", encoder_name, ENCODERS)
        encoder = {"_target_": encoder_target, "input_size": feature_dim,
                   **_block_conf("encoder_conf", encoder_name, encoder_target, cfg)}
        output_size = encoder.setdefault("output_size", 256)
        vocab_size = _tokenizer_vocab_size(cfg)
        decoder_target = _choice("decoder", cfg.get("decoder") or "none", DECODERS)
        decoder = None if decoder_target is None else {
            "_target_": decoder_target, "vocab_size": vocab_size, "encoder_output_size": output_size,
            **_block_conf("decoder_conf", cfg.get("decoder"), decoder_target, cfg)}
        model_conf = _plain(cfg.get("model_conf"))
        for key in model_conf:
            if key not in MODEL_CONF_KEYS:
                raise ConfigKeyError(f"unknown key 'model_conf.{key}'{suggest(key, list(MODEL_CONF_KEYS))}")
        if decoder is None:
            model_conf.setdefault("ctc_weight", 1.0)
        model = {"_target_": MODEL, "vocab_size": vocab_size, "encoder": encoder, "decoder": decoder,
                 **model_conf, "token_list": "${tokenizer.save_path}/tokens.txt"}  # follows a moved tokenizer
        specaug = _choice("specaug", cfg.get("specaug") or "none", SPECAUGS)
        with _writable(out):
            out.task = None
            out.model = model
            out.frontend = frontend
            if specaug is not None:  # SpecAugment runs in the data pipeline, train split only
                out.augment.specaug = {"_target_": specaug, **_plain(cfg.get("specaug_conf"))}
            for key in TASK_KEYS:
                if key in out:
                    out[key] = None if key in ("encoder", "decoder", "specaug") else {}
        return out

    @staticmethod
    def _frontend(cfg: DictConfig) -> dict:
        node = cfg.get("frontend")
        if isinstance(node, str):
            node = {"_target_": _choice("frontend", node, FRONTENDS)}
        elif node is None:
            raise ConfigKeyError("task: asr needs a frontend (frontend: fbank)")
        else:
            node = _plain(node)
        return {**node, **translate_frontend_conf(_plain(cfg.get("frontend_conf")))}


class _writable:
    """Lift OmegaConf's struct/readonly flags while the bridge edits its copy."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg

    def __enter__(self):
        self.flags = (OmegaConf.is_struct(self.cfg), OmegaConf.is_readonly(self.cfg))
        OmegaConf.set_struct(self.cfg, False)
        OmegaConf.set_readonly(self.cfg, False)

    def __exit__(self, *exc):
        OmegaConf.set_struct(self.cfg, self.flags[0])
        OmegaConf.set_readonly(self.cfg, self.flags[1])
