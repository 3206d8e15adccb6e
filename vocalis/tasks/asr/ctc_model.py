"""A CTC speech recogniser: Transformer encoder + linear CTC head."""

from __future__ import annotations

import torch
from torch import nn

from vocalis.decode.ctc_greedy import ctc_greedy
from vocalis.tasks.asr.transformer_encoder import TransformerEncoder


class CTCModel(nn.Module):
    """Features ``(B, T, F)`` -> CTC logits ``(B, T/4, vocab_size)``.

    ``forward`` returns ``(loss, stats, weight)``: the CTC loss summed per utterance and
    averaged over the batch; in eval mode ``stats`` also holds the greedy-decoding token
    error rate ``ter`` (a cheap validation signal that tracks WER).
    """

    def __init__(self, vocab_size: int, input_size: int = 80, d_model: int = 144, num_heads: int = 4,
                 ffn_dim: int = 576, num_layers: int = 6, dropout: float = 0.1,
                 subsampling_channels: int | None = None, blank_id: int = 0):
        super().__init__()
        self.encoder = TransformerEncoder(input_size, d_model, num_heads, ffn_dim, num_layers, dropout,
                                          subsampling_channels=subsampling_channels)
        self.ctc_head = nn.Linear(d_model, vocab_size)
        self.ctc_loss = nn.CTCLoss(blank=blank_id, reduction="sum", zero_infinity=True)
        self.blank_id = blank_id

    def ctc_logits(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        enc, lengths = self.encoder(speech, speech_lengths)
        return self.ctc_head(enc), lengths

    def forward(self, speech: torch.Tensor, speech_lengths: torch.Tensor, text: torch.Tensor,
                text_lengths: torch.Tensor) -> tuple[torch.Tensor, dict, int]:
        logits, lengths = self.ctc_logits(speech, speech_lengths)
        log_probs = logits.float().log_softmax(-1)
        loss = self.ctc_loss(log_probs.transpose(0, 1), text.clamp_min(0), lengths, text_lengths) / speech.shape[0]
        stats = {"loss_ctc": loss.detach()}
        if not self.training:
            stats["ter"] = _token_error_rate(ctc_greedy(log_probs, lengths, self.blank_id), text, text_lengths)
        return loss, stats, speech.shape[0]


def _token_error_rate(hyps: list[list[int]], refs: torch.Tensor, ref_lengths: torch.Tensor) -> float:
    from vocalis.metrics.alignment import edit_distance

    errors = sum(edit_distance(r[:n].tolist(), h) for h, r, n in zip(hyps, refs, ref_lengths.tolist()))
    return errors / max(1, int(ref_lengths.sum()))
