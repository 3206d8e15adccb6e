"""Losses for models that return raw outputs (the ``loss:`` block of training.yaml)."""

from __future__ import annotations

from typing import Any

import torch

from vocalis.train.model_contract import output_logits


class CTCLoss:
    """CTC over frame logits ``(B, T, V)`` against the tokenised ``text`` ``(B, L)``.

    The loss is summed over each utterance and averaged over the batch (ESPnet's
    convention). Blank is token 0 (see :mod:`vocalis.data.tokenizer`).
    """

    def __init__(self, blank: int = 0, zero_infinity: bool = True, target_key: str = "text"):
        self.blank, self.target_key = blank, target_key
        self.ctc = torch.nn.CTCLoss(blank=blank, reduction="sum", zero_infinity=zero_infinity)

    def __call__(self, output: Any, batch: dict) -> tuple[torch.Tensor, dict]:
        logits, lengths = output_logits(output, batch, "the model")
        targets = batch[self.target_key]
        target_lengths = batch[f"{self.target_key}_lengths"]
        vocab = logits.shape[-1]
        if int(targets.max()) >= vocab:
            raise ValueError(f"token id {int(targets.max())} does not fit the model's {vocab} output classes; "
                             f"make the model's vocabulary at least tokenizer.vocab_size")
        log_probs = logits.float().log_softmax(-1).transpose(0, 1)  # (T, B, V)
        loss = self.ctc(log_probs, targets.clamp_min(0), lengths, target_lengths) / logits.shape[0]
        return loss, {"loss_ctc": loss.detach()}
