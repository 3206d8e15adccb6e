"""The LightningModule that trains any model satisfying :mod:`vocalis.train.model_contract`."""

from __future__ import annotations

import logging

import lightning as L
import torch
from omegaconf import DictConfig

from vocalis.train.model_contract import LossFn, StepResult, forward_kwargs, interpret_output

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Too many batches in a row had a NaN/inf loss."""


class VocalisModule(L.LightningModule):
    """Wraps a plain ``torch.nn.Module``; logs ``train/<stat>`` and ``valid/<stat>``.

    A batch whose loss is NaN or inf on any rank is skipped on every rank (the flag is
    all-reduced, so DDP ranks never disagree): its loss is replaced by a zero that touches
    every trainable parameter (DDP's backward all-reduce still runs on every rank, with
    zero gradients), and when no batch of the optimizer step was finite the gradients are
    dropped before the step, so the optimizer leaves every parameter (and its state) as it
    was. ``training_step`` then returns ``{"loss": 0, "nonfinite": True}`` for callbacks. After
    ``max_nonfinite_batches`` such batches in a row training stops with
    :class:`NonFiniteLossError` (1: the first one stops it).

    Args:
        model: the model built from ``model:`` in training.yaml.
        loss_fn: the ``loss:`` block, for models that return raw outputs.
        optimizer: ``optimizer:`` config node (``_target_`` + kwargs, optional ``param_groups``).
        scheduler: ``scheduler:`` node (optional ``monitor``), or None.
        scheduler_interval: ``step`` or ``epoch``.
        max_nonfinite_batches: this many non-finite batches in a row end training.
    """

    def __init__(self, model: torch.nn.Module, loss_fn: LossFn | None, optimizer: DictConfig,
                 scheduler: DictConfig | None = None, scheduler_interval: str = "step",
                 max_nonfinite_batches: int = 10):
        super().__init__()
        if scheduler_interval not in ("step", "epoch"):
            raise ValueError(f"scheduler_interval must be 'step' or 'epoch', got {scheduler_interval!r}")
        if int(max_nonfinite_batches) < 1:
            raise ValueError(f"max_nonfinite_batches must be >= 1 (1 stops at the first NaN/inf loss), "
                             f"got {max_nonfinite_batches}")
        self.model, self.loss_fn = model, loss_fn
        self.optimizer_cfg, self.scheduler_cfg, self.scheduler_interval = optimizer, scheduler, scheduler_interval
        self.max_nonfinite_batches = int(max_nonfinite_batches)
        self.nonfinite_in_a_row = 0
        self.nonfinite_total = 0
        self._finite_since_step = 0  # finite batches whose gradients the next optimizer step will use

    def _step(self, batch: dict) -> StepResult:
        output = self.model(**forward_kwargs(self.model, batch))
        return interpret_output(output, batch, self.model, self.loss_fn)

    def _log_step(self, prefix: str, result: StepResult, on_step: bool) -> None:
        sync = self.trainer.world_size > 1  # epoch means (and the monitored metric) agree across ranks
        self.log(f"{prefix}/loss", result.loss.detach(), batch_size=result.weight, prog_bar=True,
                 on_step=on_step, on_epoch=True, sync_dist=sync)
        for key, value in result.stats.items():
            if key != "loss":
                self.log(f"{prefix}/{key}", value, batch_size=result.weight, on_step=on_step, on_epoch=True,
                         sync_dist=sync)

    def _any_rank_nonfinite(self, loss: torch.Tensor) -> bool:
        local = not bool(torch.isfinite(loss.detach()).all())
        return bool(self.trainer.strategy.reduce_boolean_decision(local, all=False))

    def _zero_loss(self) -> torch.Tensor:
        """0 with a (zero) gradient path to every trainable parameter, so DDP's reducer is satisfied."""
        return sum((p.sum() * 0.0 for p in self.model.parameters() if p.requires_grad), torch.zeros(()))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor | dict:
        result = self._step(batch)
        if self._any_rank_nonfinite(result.loss):
            self.nonfinite_in_a_row += 1
            self.nonfinite_total += 1
            ids = batch.get("utt_id")
            log.warning("non-finite loss (%s on rank %d) at global step %d (epoch %d, batch %d%s): batch skipped, "
                        "%d in a row", float(result.loss.detach()), self.global_rank, self.global_step,
                        self.current_epoch, batch_idx, f", utterances {list(ids)[:8]}" if ids is not None else "",
                        self.nonfinite_in_a_row)
            if self.nonfinite_in_a_row >= self.max_nonfinite_batches:
                raise NonFiniteLossError(
                    f"{self.nonfinite_in_a_row} batches in a row had a NaN/inf loss (last at global step "
                    f"{self.global_step}), reaching max_nonfinite_batches={self.max_nonfinite_batches}. "
                    "Lower optimizer.lr or add warm-up (scheduler), check the data of the listed utterances, "
                    "or raise max_nonfinite_batches in training.yaml.")
            # (Returning None would skip backward, but Lightning refuses that under DDP.)
            return {"loss": self._zero_loss().to(result.loss.device), "nonfinite": True}
        self.nonfinite_in_a_row = 0
        self._finite_since_step += 1
        self._log_step("train", result, on_step=True)
        return result.loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self._finite_since_step == 0:  # every batch of this step was skipped: no update at all
            for group in optimizer.param_groups:
                for p in group["params"]:
                    p.grad = None
        self._finite_since_step = 0

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._log_step("valid", self._step(batch), on_step=False)

    def configure_optimizers(self):
        from vocalis.train.optimizers import configure_optimizers

        # Lightning's mixed-precision plugins refuse to clip for an optimizer that unscales
        # gradients itself (a fused one); plain bf16-mixed has no scaler and this module clips there
        fused = "mixed" not in str(self.trainer.precision) or self._autocast_without_scaler()
        return configure_optimizers(self.model, self.optimizer_cfg, self.scheduler_cfg, self.scheduler_interval,
                                    allow_fused=fused)

    def _autocast_without_scaler(self) -> bool:
        """Lightning's own ``MixedPrecision`` plugin in bfloat16 (FSDP and DeepSpeed have plugins
        and clipping of their own; float16 has a loss scaler)."""
        from lightning.pytorch.plugins.precision import MixedPrecision

        plugin = self.trainer.precision_plugin
        return type(plugin) is MixedPrecision and plugin.scaler is None

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, gradient_clip_val=None,
                                    gradient_clip_algorithm=None) -> None:
        """Lightning's clipping, except under plain ``bf16-mixed``: bfloat16 needs no loss scaler,
        so the gradients are clipped by the base precision plugin's own ``clip_gradients``, past
        the mixed-precision plugin's refusal of fused optimizers (meant for float16's scaler). The
        fused Adam is 3x faster on CPU."""
        if gradient_clip_val is None or not self._autocast_without_scaler():
            return super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)
        from lightning.pytorch.plugins.precision import Precision
        from lightning.pytorch.utilities import GradClipAlgorithmType

        algorithm = GradClipAlgorithmType(gradient_clip_algorithm or "norm")
        Precision.clip_gradients(self.trainer.precision_plugin, optimizer, gradient_clip_val, algorithm)
