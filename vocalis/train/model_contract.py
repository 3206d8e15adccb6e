"""The training-model contract: what ``forward(**batch)`` may take and return.

A model's forward receives the batch fields its signature names (``speech``,
``speech_lengths``, ``text``, ``text_lengths``, ...; all of them if it takes
``**kwargs``). It may return

1. ``(loss, stats, weight)``: ESPnet style; ``stats`` a dict of scalars, ``weight``
   the batch size used to average across batches;
2. a dict with a ``"loss"`` entry (other scalar entries become stats);
3. raw outputs, e.g. frame logits ``(B, T', V)`` or ``(logits, lengths)``: then the
   ``loss:`` block of training.yaml turns them into a loss (see :mod:`vocalis.train.losses`).

Anything else stops training with a message naming the model class and what it returned.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

LossFn = Callable[[Any, dict], tuple[torch.Tensor, dict]]


@dataclass
class StepResult:
    """One batch's loss, its detached scalar stats, and its weight (batch size)."""

    loss: torch.Tensor
    stats: dict[str, float | torch.Tensor] = field(default_factory=dict)
    weight: int = 1


def forward_kwargs(model: torch.nn.Module, batch: dict) -> dict:
    """The batch fields ``model.forward`` accepts; ids and other non-tensors are never passed."""
    tensors = {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}
    params = inspect.signature(model.forward).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return tensors
    names = {p.name for p in params}
    missing = [p.name for p in params if p.default is inspect.Parameter.empty
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in tensors]
    if missing:
        raise TypeError(f"{type(model).__name__}.forward needs {missing} but the batch has only "
                        f"{sorted(tensors)}; rename the forward arguments or the dataset fields")
    return {k: v for k, v in tensors.items() if k in names}


def _describe(output: Any) -> str:
    if isinstance(output, torch.Tensor):
        return f"a Tensor of shape {tuple(output.shape)}"
    if isinstance(output, (tuple, list)):
        return f"a {type(output).__name__} of {len(output)} ({', '.join(_describe(o) for o in output)})"
    if isinstance(output, dict):
        return f"a dict with keys {sorted(output)}"
    return f"a {type(output).__name__}"


def _batch_size(batch: dict) -> int:
    for value in batch.values():
        if isinstance(value, torch.Tensor) and value.ndim > 0:
            return int(value.shape[0])
    return 1


def _scalar_stats(items: dict) -> dict:
    return {k: v.detach() if isinstance(v, torch.Tensor) else v for k, v in items.items()
            if v is not None and (not isinstance(v, torch.Tensor) or v.numel() == 1)}


def interpret_output(output: Any, batch: dict, model: torch.nn.Module, loss_fn: LossFn | None) -> StepResult:
    """Map any supported return value of ``forward`` to a :class:`StepResult`."""
    name = type(model).__name__
    if isinstance(output, tuple) and len(output) == 3 and isinstance(output[1], dict):
        loss, stats, weight = output
        if not (isinstance(loss, torch.Tensor) and loss.ndim == 0):
            raise TypeError(f"{name}.forward returned (loss, stats, weight) but loss is {_describe(loss)}; it must be a scalar tensor")
        weight = int(weight.item()) if isinstance(weight, torch.Tensor) else int(weight or _batch_size(batch))
        return StepResult(loss, _scalar_stats(stats), weight)
    if isinstance(output, dict) and "loss" in output:
        stats = _scalar_stats({k: v for k, v in output.items() if k != "loss"})
        return StepResult(output["loss"], stats, _batch_size(batch))
    if loss_fn is not None:
        loss, stats = loss_fn(output, batch)
        return StepResult(loss, _scalar_stats(stats), _batch_size(batch))
    raise TypeError(
        f"{name}.forward returned {_describe(output)}, which is not a training result. Return "
        "(loss, stats, weight) or a dict with 'loss', or keep the raw output and add a loss block to "
        "training.yaml, e.g.\n  loss:\n    _target_: vocalis.train.losses.CTCLoss\n"
        "which trains frame logits (B, T, vocab) with CTC against the tokenised text."
    )


def output_logits(output: Any, batch: dict, model_name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame logits ``(B, T', V)`` and their lengths ``(B,)`` from a raw model output.

    A model that keeps the frame rate returns logits only; a model that subsamples should
    return ``(logits, lengths)``. Without lengths, the input lengths are scaled by
    ``T' / T`` (exact when the model keeps or evenly divides the frame rate).
    """
    if isinstance(output, (tuple, list)) and len(output) == 2 and all(isinstance(o, torch.Tensor) for o in output):
        logits, lengths = output
    elif isinstance(output, torch.Tensor):
        logits, lengths = output, None
    else:
        raise TypeError(f"{model_name}.forward returned {_describe(output)}; frame logits (B, T, vocab) or "
                        "(logits, lengths) were expected for a CTC loss or CTC decoding")
    if logits.ndim != 3:
        raise TypeError(f"{model_name}.forward returned logits of shape {tuple(logits.shape)}; expected (B, T, vocab)")
    if lengths is None:
        speech, speech_lengths = batch.get("speech"), batch.get("speech_lengths")
        if speech_lengths is None or speech is None:
            lengths = torch.full((logits.shape[0],), logits.shape[1], dtype=torch.long)
        else:
            ratio = logits.shape[1] / speech.shape[1]
            lengths = torch.ceil(speech_lengths.to(torch.float64) * ratio).long().clamp(max=logits.shape[1])
    return logits, lengths.to(logits.device)


def frame_logits(model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """CTC logits for decoding: ``model.ctc_logits(speech, speech_lengths)`` if the model has it, else its raw forward."""
    if hasattr(model, "ctc_logits"):
        return model.ctc_logits(batch["speech"], batch["speech_lengths"])
    return output_logits(model(**forward_kwargs(model, batch)), batch, type(model).__name__)
