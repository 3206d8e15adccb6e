"""Stage train: build the model from training.yaml and fit it with Lightning.

Writes into ``exp_dir``: ``config.yaml`` (the resolved config inference rebuilds the
model from), ``checkpoints/`` (``last.ckpt`` and the top-k by the first
``best_model_criterion``), ``<monitor>.ave_<k>best.pth`` (their average),
``last.pth``, ``ema.pth`` (with ``ema:``), ``tensorboard/``, ``history.json``,
``curves.png``, ``summary.txt`` and ``train.log``. An interrupted run resumes from
``checkpoints/last.ckpt`` (written each epoch and every ``checkpoint_every_n_steps``);
a finished run with the same config is skipped.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import OmegaConf

from vocalis.atomic_files import write_text_atomically
from vocalis.config.instantiate import accepted_kwargs, instantiate
from vocalis.config.loading import to_plain
from vocalis.config.schema import ConfigKeyError, suggest
from vocalis.cpu_bfloat16 import warn_if_bfloat16_is_slow
from vocalis.data.organizer import DataOrganizer
from vocalis.data.pipeline import build_pipeline
from vocalis.data.pipeline_files import check_pipeline_files, pipeline_digests
from vocalis.stages.context import RunContext
from vocalis.stages.markers import DoneMarker, fingerprint
from vocalis.train.averaging import average_state_dicts, model_state_dict, save_weights
from vocalis.train.callbacks import TrainCallbacks, build_callbacks
from vocalis.train.callbacks.summary import plot_curves, summary_text, write_summary
from vocalis.train.data import build_loader
from vocalis.train.init_weights import apply_freeze, apply_init
from vocalis.train.lightning_module import VocalisModule
from vocalis.train.lora import apply_lora, merge_lora, save_adapter
from vocalis.train.model_from_config import build_model
from vocalis.train.weights_io import read_weights

log = logging.getLogger(__name__)


def _route_lightning_logs_through_root() -> None:
    """Lightning gives its loggers their own console handler when it is imported before logging
    is configured; with a configured root (the CLI, the stage log files) that prints each line
    twice. Drop those handlers so its messages go once, through the root's handlers."""
    if not logging.getLogger().handlers:
        return
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:
                logger.removeHandler(handler)
        logger.propagate = True


_route_lightning_logs_through_root()

# Sections whose change makes an existing experiment stale.
TRAINING_SECTIONS = ("model", "loss", "optimizer", "scheduler", "scheduler_interval", "trainer", "dataloader",
                     "frontend", "normalize", "tokenizer", "dataset", "seed", "best_model_criterion", "augment",
                     "init", "freeze", "peft", "ema")


# Keys that change how fast batches come, never what they hold (items are a function of seed,
# epoch and utterance; the fbank is bit-identical on any thread count): a run may resume with others.
THROUGHPUT_ONLY_KEYS = {"dataloader": ("num_workers", "feature_cache_gb", "precompute_features", "precompute_store")}


def section_fingerprints(cfg) -> dict[str, str]:
    sections = {}
    for key in TRAINING_SECTIONS:
        value = to_plain(cfg[key]) if OmegaConf.is_config(cfg[key]) else cfg[key]
        if isinstance(value, dict) and key in THROUGHPUT_ONLY_KEYS:
            value = {k: v for k, v in value.items() if k not in THROUGHPUT_ONLY_KEYS[key]}
        sections[key] = fingerprint(value)
    return sections


def _check_fingerprint(marker: DoneMarker, sections: dict[str, str], exp_dir: Path) -> None:
    import json

    old = json.loads(marker.path.read_text()).get("sections", {})
    changed = sorted(k for k in sections if k in old and old[k] != sections[k])  # keys newer than the run pass
    if changed:
        raise RuntimeError(f"{exp_dir} holds a run of a different config (changed: {', '.join(changed)}). "
                           "Give the new config its own experiment (another exp_tag, e.g. a new "
                           f"conf/training_<name>.yaml), or delete {exp_dir} to start over.")


def prepare_model(cfg, exp_dir: Path, recipe_dir: Path) -> torch.nn.Module:
    """Build, reuse weights (``init:``, report in exp_dir), wrap adapters (``peft:``), freeze (``freeze:``)."""
    model = build_model(cfg, with_peft=False)
    if cfg.get("init"):
        apply_init(model, to_plain(cfg.init), recipe_dir).write(exp_dir)
    if cfg.get("peft"):
        wrapped = apply_lora(model, to_plain(cfg.peft))
        log.info("peft: LoRA adapters on %d Linear modules (%s, ...)", len(wrapped), wrapped[0])
    apply_freeze(model, list(cfg.get("freeze") or []))
    _log_parameters(model)
    return model


def _export_peft(model: torch.nn.Module, cfg, exp_dir: Path) -> None:
    """Adapter-only weights (``adapter/``) and merged plain weights (``merged.pth``) from the best average."""
    import copy

    model.load_state_dict(read_weights(exp_dir), strict=True)
    save_adapter(model, to_plain(cfg.peft), exp_dir / "adapter")
    save_weights(merge_lora(copy.deepcopy(model)).state_dict(), exp_dir / "merged.pth")
    log.info("peft: wrote %s and %s", exp_dir / "adapter", exp_dir / "merged.pth")


def _trainer_kwargs(cfg) -> dict:
    kwargs = to_plain(cfg.trainer)
    allowed = accepted_kwargs(L.Trainer)
    for key in kwargs:
        if key not in allowed:
            raise ConfigKeyError(f"trainer.{key}: lightning.Trainer has no argument {key!r}{suggest(key, sorted(allowed))}")
    return kwargs


def _bfloat16_on_cpu(trainer_kwargs: dict) -> bool:
    """Whether these ``trainer`` arguments train under bfloat16 autocast on the CPU."""
    accelerator = str(trainer_kwargs.get("accelerator", "auto"))
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    return on_cpu and "bf16" in str(trainer_kwargs.get("precision", ""))


def _log_parameters(model: torch.nn.Module) -> None:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log.info("model %s: %s parameters, %s trainable (%.1f %%)", type(model).__name__, f"{total:,}",
             f"{trainable:,}", 100.0 * trainable / max(total, 1))


def _write_weights(exp_dir: Path, checkpoint_cb: ModelCheckpoint, monitor: str, top_k: int) -> Path | None:
    ckpt_dir = exp_dir / "checkpoints"
    save_weights(model_state_dict(ckpt_dir / "last.ckpt"), exp_dir / "last.pth")
    best = sorted(checkpoint_cb.best_k_models.items(), key=lambda kv: float(kv[1]),
                  reverse=checkpoint_cb.mode == "max")
    paths = [p for p, _ in best if Path(p).is_file()]
    if paths:
        name = f"{monitor.replace('/', '.')}.ave_{top_k}best.pth"
        save_weights(average_state_dicts(paths), exp_dir / name)
        if len(paths) < top_k:  # the name keeps the configured count (as ESPnet's), so scripts find it
            log.warning("%s averages only %d checkpoints, not %d: the run validated fewer epochs than "
                        "best_model_criterion keeps", name, len(paths), top_k)
        log.info("averaged %d best checkpoints by %s -> %s", len(paths), monitor, exp_dir / name)
        return exp_dir / name
    return None


def _write_report(exp_dir: Path, trainer: L.Trainer, callbacks: TrainCallbacks, model: torch.nn.Module,
                  averaged: Path | None) -> None:
    """``curves.png`` and ``summary.txt`` in exp_dir; the summary is also logged."""
    history, best = callbacks.history.as_dict(), callbacks.best
    plot_curves(history, exp_dir / "curves.png")
    extra = [f"ema              ema.pth (decay {callbacks.ema.decay}, {callbacks.ema.updates} updates)"] \
        if callbacks.ema is not None else []
    text = summary_text(
        exp_dir, history, global_step=trainer.global_step, epochs=trainer.current_epoch, monitor=str(best.monitor),
        mode=best.mode, best_path=best.best_model_path or None,
        best_score=float(best.best_model_score) if best.best_model_score is not None else None, averaged=averaged,
        total_params=sum(p.numel() for p in model.parameters()),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        skipped=int(history["skipped"]), extra=extra + ["curves           curves.png, history.json, tensorboard/"])
    write_summary(text, exp_dir / "summary.txt")
    log.info("training summary (%s):\n%s", exp_dir / "summary.txt", text)


def run(ctx: RunContext) -> None:
    from vocalis.tasks.registry import resolve_task

    cfg = resolve_task(ctx.config("training", "train"))  # config.yaml records the direct (ejectable) model
    exp_dir = Path(cfg.exp_dir)
    sections = section_fingerprints(cfg)
    fp = fingerprint(sections)
    done, started = DoneMarker(exp_dir, "train"), DoneMarker(exp_dir, "train_started")
    if done.read() is not None:
        _check_fingerprint(done, sections, exp_dir)
        check_pipeline_files(cfg, done.info().get("inputs"), exp_dir, "count it as trained")
        log.info("%s is already trained with this config, skipping", exp_dir)
        return
    last_ckpt = exp_dir / "checkpoints" / "last.ckpt"
    resume = last_ckpt.is_file() and started.read() is not None
    if resume:
        _check_fingerprint(started, sections, exp_dir)
        check_pipeline_files(cfg, started.info().get("inputs"), exp_dir, "resume its training")
        log.info("resuming from %s", last_ckpt)
    exp_dir.mkdir(parents=True, exist_ok=True)
    inputs = pipeline_digests(cfg)  # the tokenizer and statistics this run trains with
    started.write(fp, sections=sections, inputs=inputs)
    write_text_atomically(exp_dir / "config.yaml", OmegaConf.to_yaml(cfg))

    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    pipeline = build_pipeline(cfg)
    organizer = DataOrganizer(cfg.dataset, ctx.recipe_dir)
    train_set, valid_set = organizer.split("train"), organizer.split("valid")
    train_loader = build_loader(train_set, pipeline, cfg, "train", seed=int(cfg.seed))
    valid_loader = build_loader(valid_set, pipeline, cfg, "valid", seed=int(cfg.seed))
    for offset, loader in enumerate((train_loader, valid_loader)):
        # Worker seeds come from the loader's own generator, not the global RNG: a resumed run
        # (Lightning skips its sanity check) then draws the same dropout masks as an uninterrupted one.
        loader.generator = torch.Generator().manual_seed(int(cfg.seed) + offset)

    model = prepare_model(cfg, exp_dir, ctx.recipe_dir)
    loss_fn = instantiate(cfg.loss, "loss") if cfg.get("loss") else None
    module = VocalisModule(model, loss_fn, cfg.optimizer, cfg.get("scheduler"), cfg.scheduler_interval,
                           max_nonfinite_batches=int(cfg.max_nonfinite_batches))

    monitor, top_k, _ = cfg.best_model_criterion[0]
    callbacks = build_callbacks(cfg, exp_dir)
    checkpoint_cb = callbacks.best
    trainer_kwargs = _trainer_kwargs(cfg)
    if _bfloat16_on_cpu(trainer_kwargs):
        warn_if_bfloat16_is_slow(f"trainer.precision={trainer_kwargs['precision']}", "trainer.precision=32-true")
    trainer = L.Trainer(default_root_dir=exp_dir, callbacks=callbacks.all(), use_distributed_sampler=False,
                        logger=TensorBoardLogger(exp_dir / "tensorboard", name="", version=""),
                        **trainer_kwargs)
    trainer.fit(module, train_loader, valid_loader, ckpt_path=last_ckpt if resume else None)
    if trainer.global_rank == 0:
        averaged = _write_weights(exp_dir, checkpoint_cb, monitor, int(top_k))
        if cfg.get("peft"):
            _export_peft(model, cfg, exp_dir)
        _write_report(exp_dir, trainer, callbacks, model, averaged)
        done.write(fp, sections=sections, inputs=inputs, global_step=trainer.global_step,
                   best_score=float(checkpoint_cb.best_model_score) if checkpoint_cb.best_model_score is not None else None)
