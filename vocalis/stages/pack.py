"""Stage pack: the inference config's model as a bundle folder (see :mod:`vocalis.publish.pack`).

The bundle also keeps the int8 activation ranges of its weights, recorded here on the valid
split (a few seconds), so it decodes with ``dtype: int8`` where that data is not; where the
valid split cannot be read, the bundle is made without them, the log says so, and the next
pack run of the same bundle tries again.

A bundle that matches this config, checkpoint and results is kept; one made from other
weights or settings is replaced only with ``pack.overwrite: true``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from vocalis.config.loading import to_plain
from vocalis.publish.pack import INT8_RANGES_FILE, PackRequest, write_bundle
from vocalis.stages.context import RunContext
from vocalis.stages.markers import DoneMarker, file_fingerprint, fingerprint

log = logging.getLogger(__name__)
INFERENCE_SETTINGS = ("input_key", "output_keys", "idx_key", "batch_size")


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _request(ctx: RunContext) -> PackRequest:
    cfg = ctx.config("publication", "pack")
    inference = ctx.config("inference", "pack")
    model_node = to_plain(inference.model)
    if "exp_dir" not in model_node or "checkpoint" not in model_node:
        raise ValueError(f"{ctx.config_files['inference']}: pack publishes a trained experiment, so model: needs "
                         f"exp_dir and checkpoint (like vocalis.infer.speech2text.Speech2Text); found {sorted(model_node)}")
    from vocalis.infer.speech2text import find_checkpoint

    exp_dir = Path(model_node["exp_dir"])
    if str(model_node["checkpoint"]) == "adapter":
        raise ValueError(f"{ctx.config_files['inference']}: pack publishes one weights file, and model.checkpoint: "
                         "adapter is base weights + adapter; pack checkpoint: merged.pth (the same model with the "
                         "adapters merged in), e.g. with inference.model.checkpoint=merged.pth")
    recipe = "/".join(Path(ctx.recipe_dir).parts[-2:])
    return PackRequest(exp_dir=exp_dir, checkpoint=find_checkpoint(exp_dir, str(model_node["checkpoint"])),
                       model_node=model_node, recipe=recipe, metrics_file=Path(cfg.inference_dir) / "metrics.json",
                       include_src=cfg.pack.include_src,
                       inference_settings={k: _plain(inference.get(k)) for k in INFERENCE_SETTINGS},
                       card={"name": cfg.pack.name, "description": cfg.pack.description, "license": cfg.pack.license})


def _int8_ranges(request: PackRequest) -> dict | None:
    """The checkpoint's int8 conv-front ranges, or None (logged) when the valid split cannot be read."""
    from vocalis.infer.speech2text import Int8CalibrationDataError, Speech2Text

    try:
        # decoded as the bundle will be: an attention-only model refuses the default ctc_greedy
        decode = request.model_node.get("decode", "ctc_greedy")
        return Speech2Text(request.exp_dir, checkpoint=str(request.checkpoint), decode=decode).record_int8_ranges()
    except Int8CalibrationDataError as err:
        log.warning("packing without int8 ranges, so the bundle will not decode with dtype int8: %s", err)
        return None


def run(ctx: RunContext) -> Path:
    cfg = ctx.config("publication", "pack")
    request = _request(ctx)
    out_dir = Path(cfg.pack.out_dir)
    metrics = request.metrics_file if request.metrics_file and request.metrics_file.is_file() else None
    fp = fingerprint(to_plain(cfg.pack), request.model_node, request.inference_settings,
                     file_fingerprint(request.checkpoint), file_fingerprint(request.exp_dir / "config.yaml"),
                     file_fingerprint(metrics) if metrics else None)
    marker = DoneMarker(out_dir.parent, f"pack_{out_dir.name}")
    if (out_dir / "meta.yaml").is_file():
        same_inputs = marker.matches(fp)
        if same_inputs and (out_dir / INT8_RANGES_FILE).is_file():
            log.info("%s is up to date with this config, checkpoint and results, skipping", out_dir)
            return out_dir
        if same_inputs:  # packed where the valid split could not be read: try again
            log.info("%s has no int8 ranges; packing it again to record them", out_dir)
        elif not cfg.pack.overwrite:
            raise FileExistsError(f"{out_dir} holds a bundle of other weights, settings or results; delete it, run "
                                  "with publication.pack.overwrite=true, or set another publication.pack.out_dir")
    marker.clear()
    request.int8_ranges = _int8_ranges(request)
    write_bundle(request, out_dir)
    marker.write(fp, checkpoint=str(request.checkpoint))
    log.info("packed %s (weights %s) into %s", request.recipe, request.checkpoint.name, out_dir)
    return out_dir
