"""Stage create_dataset: run each data source's DatasetBuilder once."""

from __future__ import annotations

import logging

from omegaconf import OmegaConf

from vocalis.data.organizer import DataOrganizer
from vocalis.recipe import load_data_module
from vocalis.stages.context import RunContext

log = logging.getLogger(__name__)


def run(ctx: RunContext) -> None:
    cfg = ctx.config("training", "create_dataset")
    kwargs = OmegaConf.to_container(cfg.create_dataset, resolve=True) if cfg.get("create_dataset") else {}
    for data_src in DataOrganizer(cfg.dataset, ctx.recipe_dir).data_sources():
        module = load_data_module(data_src, ctx.recipe_dir)
        name = data_src or "this recipe's dataset/"
        if not hasattr(module, "DatasetBuilder"):
            log.info("%s exports no DatasetBuilder: nothing to build", name)
            continue
        builder = module.DatasetBuilder()
        if not builder.is_source_prepared(**kwargs):
            log.info("%s: preparing source", name)
            builder.prepare_source(**kwargs)
        if builder.is_built(**kwargs):
            log.info("%s: already built with these settings, skipping", name)
            continue
        log.info("%s: building with %s", name, kwargs)
        builder.build(**kwargs)
