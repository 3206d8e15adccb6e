"""Link the configs of one run: the experiment named by training.yaml is the one inferred and measured.

training -> inference, metrics, publication: ``exp_tag`` and ``exp_dir`` (without a training
config: inference -> metrics, publication);
inference -> metrics, publication: ``inference_dir``.
A value that the receiving file sets differently is overwritten with a warning, so
``infer`` always reads the checkpoints that ``train`` wrote.
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def _copy_key(src: DictConfig, dst: DictConfig, key: str, src_name: str, dst_name: str) -> None:
    if key not in src:
        return
    value = OmegaConf.select(src, key, throw_on_missing=False)
    if value is None:
        return
    try:
        current = OmegaConf.select(dst, key, throw_on_missing=False) if key in dst else None
    except Exception:  # an interpolation to a key left ??? (e.g. ${exp_dir} without exp_tag): replaced anyway
        current = None
    if current is not None and str(current) != str(value):
        log.warning("%s.%s=%r is replaced by %s.%s=%r so both stages use one experiment",
                    dst_name, key, current, src_name, key, value)
    dst[key] = value


def propagate(configs: dict[str, DictConfig | None]) -> None:
    """Copy experiment identity between the role configs in place; resolves the copied keys."""
    training = configs.get("training")
    inference = configs.get("inference")
    source, source_name = (training, "training") if training is not None else (inference, "inference")
    if source is not None:
        for role in ("inference", "metrics", "publication"):
            if role != source_name and configs.get(role) is not None:
                for key in ("exp_tag", "exp_dir"):
                    _copy_key(source, configs[role], key, source_name, role)
    if inference is not None:
        for role in ("metrics", "publication"):
            if configs.get(role) is not None:
                _copy_key(inference, configs[role], "inference_dir", "inference", role)


def resolve(cfg: DictConfig, where: str) -> DictConfig:
    """Resolve interpolations in place, naming the file when one is broken or ``???`` is left."""
    try:
        OmegaConf.resolve(cfg)
        missing = sorted(OmegaConf.missing_keys(cfg))
    except Exception as err:
        raise ValueError(f"{where}: cannot resolve config: {err}") from err
    if cfg.get("task") and "model" in missing:  # the task bridge builds the model from its choices
        missing.remove("model")
    if missing:
        hint = " (give model: {_target_: ...} or task: asr with encoder/decoder choices)" if "model" in missing else ""
        raise ValueError(f"{where}: required keys are not set: {', '.join(missing)}{hint}")
    return cfg
