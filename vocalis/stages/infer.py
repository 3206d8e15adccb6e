"""Stage infer: provider -> runner -> output_fn -> ``<inference_dir>/<test>/<field>.scp``."""

from __future__ import annotations

import logging
from pathlib import Path

from vocalis.config.instantiate import instantiate
from vocalis.config.loading import to_plain
from vocalis.stages.context import RunContext
from vocalis.stages.markers import DoneMarker, file_fingerprint, fingerprint

log = logging.getLogger(__name__)


def run(ctx: RunContext) -> None:
    cfg = ctx.config("inference", "infer")
    inference_dir = Path(cfg.inference_dir)
    provider = instantiate(cfg.provider, "provider", inference_config=cfg, recipe_dir=ctx.recipe_dir)
    runner = instantiate(cfg.runner, "runner", provider=provider, input_key=to_plain(cfg.input_key)
                         if not isinstance(cfg.input_key, str) else cfg.input_key, output_fn=cfg.output_fn,
                         output_keys=to_plain(cfg.output_keys) if cfg.output_keys else None,
                         idx_key=cfg.idx_key, batch_size=cfg.batch_size)
    model_fp = None
    for name in provider.test_names():
        out_dir = inference_dir / name
        marker = DoneMarker(out_dir, "infer")
        if model_fp is None:
            checkpoint = getattr(provider.build_model(), "checkpoint_path", None)
            model_fp = file_fingerprint(checkpoint) if checkpoint else None
        fp = fingerprint({k: to_plain(v) if hasattr(v, "keys") else v for k, v in cfg.items()
                          if k not in ("dataset", "parallel")}, model_fp,
                         [to_plain(e) for e in cfg.dataset.test if e.name == name])
        if marker.matches(fp):
            log.info("%s: outputs are up to date with this config and checkpoint, skipping", name)
            continue
        marker.clear()
        stats = runner.run(name, out_dir)
        log.info("%s: %d utterances, %.1f s of audio in %.1f s (RTF %.4f)", name, stats["utterances"],
                 stats["audio_seconds"], stats["wall_seconds"], stats["rtf"] or 0.0)
        marker.write(fp)
