"""Joint CTC/attention ASR model: encoder, CTC head, attention decoder, hybrid loss.

``loss = ctc_weight * loss_ctc + (1 - ctc_weight) * loss_att`` (Watanabe et al., 2017),
each summed per utterance and averaged over the batch; ``length_normalized_loss`` divides the
attention loss by the number of tokens instead, and leaves CTC averaged over utterances (as ESPnet2).
With ``ctc_weight`` 0 the model has no CTC head (``ctc_head`` is None), as ESPnet2's has no ``ctc``.
With ``interctc_weight`` the CTC term is ``(1 - w) * ctc + w * mean(intermediate ctc)`` over the
encoder blocks in ``encoder_conf.interctc_layer_idx``; ``encoder_conf.interctc_use_conditioning``
also feeds those blocks' CTC posteriors back into the encoder (self-conditioned CTC; the model adds
``encoder.conditioning_layer``). See :mod:`vocalis.tasks.asr.intermediate_ctc`.
``forward`` returns ``(loss, stats, weight)``; stats are ``loss_ctc`` (the last block's),
``loss_att``, ``acc`` (teacher-forced token accuracy), ``loss_interctc_layer<N>`` with intermediate
CTC and, in eval mode, ``cer``/``wer`` of the teacher-forced argmax and ``cer_ctc`` of CTC greedy
output (ESPnet's validation report).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vocalis.decode.ctc_greedy import ctc_greedy
from vocalis.metrics.alignment import edit_distance
from vocalis.tasks.asr.label_smoothing import LabelSmoothingLoss


def read_token_list(token_list: list[str] | str | Path | None) -> list[str] | None:
    """A token list given inline or as a ``tokens.txt`` path (one token per line)."""
    if token_list is None or isinstance(token_list, list):
        return token_list
    path = Path(token_list)
    if not path.is_file():
        raise FileNotFoundError(f"token_list {path} does not exist; run the train_tokenizer stage first")
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def tokens_to_text(tokens: list[str]) -> str:
    """Sentencepiece pieces (``▁`` starts a word) or word tokens -> text."""
    if any("▁" in t for t in tokens):
        return "".join(tokens).replace("▁", " ").strip()
    return " ".join(tokens)


def check_interctc_weight(weight: float, ctc_weight: float, encoder: nn.Module) -> None:
    """``model_conf.interctc_weight`` must be in [0, 1) and, when set, have a CTC branch and chosen encoder blocks."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"model_conf.interctc_weight must be in [0, 1), got {weight}")
    if weight == 0.0:
        return
    if ctc_weight == 0.0:
        raise ValueError(f"model_conf.interctc_weight={weight} mixes into the CTC loss, but ctc_weight is 0; "
                         "set ctc_weight > 0 or interctc_weight: 0")
    if not getattr(encoder, "interctc_layer_idx", ()) or not hasattr(encoder, "forward_with_intermediates"):
        raise ValueError(f"model_conf.interctc_weight={weight} needs encoder blocks to take the intermediate CTC "
                         "loss from: set encoder_conf.interctc_layer_idx (1-based, e.g. [2]) on a built-in encoder "
                         f"(this one is {type(encoder).__name__})")


def check_intermediate_logits(logits: list[torch.Tensor], vocab_size: int, encoder: nn.Module) -> None:
    """``forward_with_intermediates`` must return CTC logits ``(B, T', vocab_size)``, not encodings."""
    bad = [tuple(x.shape) for x in logits if x.shape[-1] != vocab_size]
    if bad:
        raise ValueError(f"{type(encoder).__name__}.forward_with_intermediates returned intermediates of shape "
                         f"{bad[0]}; it must return the chosen blocks' CTC logits (B, T', {vocab_size}): apply the "
                         "ctc_head it is given to each block's output (see vocalis.tasks.asr.intermediate_ctc)")


def check_conditioning(interctc_weight: float, encoder: nn.Module) -> bool:
    """Whether the encoder is self-conditioned; it must then also train the intermediate CTC posteriors it feeds back."""
    if not getattr(encoder, "interctc_use_conditioning", False):
        return False
    if interctc_weight == 0.0:
        raise ValueError("encoder_conf.interctc_use_conditioning: true feeds the intermediate blocks' CTC posteriors "
                         "back into the encoder, but model_conf.interctc_weight is 0, so no loss trains them: set "
                         "model_conf.interctc_weight > 0 (e.g. 0.5) or interctc_use_conditioning: false")
    return True


class HybridCTCAttentionModel(nn.Module):
    """Features ``(B, T, F)`` and token ids ``(B, L)`` -> ``(loss, stats, weight)``.

    Args:
        vocab_size: output classes; ``<blank>`` is 0 and ``<sos/eos>`` is ``vocab_size - 1``.
        encoder: a module mapping ``(speech, speech_lengths)`` to ``(enc (B, T', D), enc_lengths)``
            with an ``output_size`` attribute.
        decoder: an attention decoder (``TransformerDecoder``) or None for CTC only.
        ctc_weight: 1.0 trains CTC only (then ``decoder`` must be None), 0.0 attention only
            (then no CTC head is built).
        lsm_weight: label smoothing of the attention loss.
        length_normalized_loss: divide the attention loss by the number of tokens instead of
            utterances (ESPnet2's meaning: the CTC loss stays a per-utterance mean).
        interctc_weight: share of intermediate CTC in the CTC loss, in [0, 1); needs an encoder
            with ``interctc_layer_idx`` (ESPnet2's ``model_conf.interctc_weight``), and is
            required (> 0) by an encoder with ``interctc_use_conditioning``.
        token_list: tokens (or a ``tokens.txt`` path) to report cer/wer on validation; must hold
            ``vocab_size`` tokens.
    """

    def __init__(self, vocab_size: int, encoder: nn.Module, decoder: nn.Module | None = None,
                 ctc_weight: float = 0.3, lsm_weight: float = 0.1, length_normalized_loss: bool = False,
                 token_list: list[str] | str | None = None, interctc_weight: float = 0.0):
        super().__init__()
        if not 0.0 <= ctc_weight <= 1.0:
            raise ValueError(f"model_conf.ctc_weight must be in [0, 1], got {ctc_weight}")
        check_interctc_weight(interctc_weight, ctc_weight, encoder)
        if decoder is None and ctc_weight < 1.0:
            raise ValueError(f"ctc_weight={ctc_weight} needs an attention decoder; set decoder: transformer "
                             "or ctc_weight: 1.0")
        if decoder is not None and ctc_weight == 1.0:
            raise ValueError("model_conf.ctc_weight: 1.0 never trains the attention decoder; for a CTC-only model "
                             "leave the decoder out (task asr: decoder: none), or lower ctc_weight")
        self.vocab_size, self.blank_id, self.sos_eos_id = vocab_size, 0, vocab_size - 1
        self.ctc_weight, self.length_normalized_loss = ctc_weight, length_normalized_loss
        self.interctc_weight = interctc_weight
        self.encoder, self.decoder = encoder, decoder
        # attention only: no CTC head, whose parameters would get no gradient (and stall DDP)
        self.ctc_head = nn.Linear(encoder.output_size, vocab_size) if ctc_weight > 0 else None
        self.self_conditioned = check_conditioning(interctc_weight, encoder)
        if self.self_conditioned:  # ESPnet2's name and place, so the parameter is encoder.conditioning_layer.*
            encoder.conditioning_layer = nn.Linear(vocab_size, encoder.output_size)
        self.ctc_loss = nn.CTCLoss(blank=self.blank_id, reduction="sum", zero_infinity=True)
        self.att_loss = LabelSmoothingLoss(vocab_size, lsm_weight, length_normalized_loss)
        self.token_list = read_token_list(token_list)
        if self.token_list is not None and len(self.token_list) != vocab_size:
            source = f" ({token_list})" if isinstance(token_list, (str, Path)) else ""
            raise ValueError(f"the token list{source} has {len(self.token_list)} tokens but vocab_size is "
                             f"{vocab_size}: set tokenizer.vocab_size: {len(self.token_list)} (word and char "
                             "tokenizers take their size from the text), or retrain the tokenizer")

    def encode(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encodings ``(B, T', D)`` and lengths ``(B,)``; decoding calls this."""
        return self.encoder(speech, speech_lengths, **self._encoder_kwargs())

    def _encoder_kwargs(self) -> dict:
        # the head is passed per call, not stored in the encoder: int8 quantization swaps model.ctc_head
        return {"ctc_head": self.ctc_head} if self.self_conditioned else {}

    def ctc_logits(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CTC logits ``(B, T', V)`` and lengths: what CTC greedy decoding needs."""
        if self.ctc_head is None:
            raise ValueError("this model was trained attention-only (model_conf.ctc_weight: 0) and has no CTC head; "
                             "decode it with decode: {method: beam, ctc_weight: 0}")
        enc, lengths = self.encode(speech, speech_lengths)
        return self.ctc_head(enc), lengths

    def forward(self, speech: torch.Tensor, speech_lengths: torch.Tensor, text: torch.Tensor,
                text_lengths: torch.Tensor) -> tuple[torch.Tensor, dict, int]:
        batch_size = speech.shape[0]
        text = text[:, : int(text_lengths.max())]
        if self.interctc_weight > 0:
            enc, enc_lengths, inter_logits = self.encoder.forward_with_intermediates(speech, speech_lengths,
                                                                                     self.ctc_head)
        else:
            (enc, enc_lengths), inter_logits = self.encode(speech, speech_lengths), []
        stats: dict[str, float | torch.Tensor] = {}
        loss = enc.new_zeros(())
        if self.ctc_weight > 0:
            log_probs, loss_ctc = self._ctc_loss(self.ctc_head(enc), enc_lengths, text, text_lengths)
            stats["loss_ctc"] = loss_ctc.detach()
            if inter_logits:
                check_intermediate_logits(inter_logits, self.vocab_size, self.encoder)
                inter = [self._ctc_loss(logits, enc_lengths, text, text_lengths)[1] for logits in inter_logits]
                del inter_logits  # (B, T', V) each: not kept through the decoder's pass
                for number, loss_inter in zip(self.encoder.interctc_layer_idx, inter):
                    stats[f"loss_interctc_layer{number}"] = loss_inter.detach()
                loss_ctc = (1 - self.interctc_weight) * loss_ctc + self.interctc_weight * sum(inter) / len(inter)
            loss = loss + self.ctc_weight * loss_ctc
            if not self.training and self.token_list:
                stats["cer_ctc"] = self._error_rate(ctc_greedy(log_probs, enc_lengths), text, text_lengths, "char")
        if self.ctc_weight < 1:
            loss_att, acc, hyps = self._attention_loss(enc, enc_lengths, text, text_lengths)
            loss = loss + (1 - self.ctc_weight) * loss_att
            stats.update(loss_att=loss_att.detach(), acc=acc)
            if not self.training and self.token_list:
                stats["cer"] = self._error_rate(hyps, text, text_lengths, "char")
                stats["wer"] = self._error_rate(hyps, text, text_lengths, "word")
        stats["loss"] = loss.detach()
        return loss, stats, batch_size

    def _ctc_loss(self, logits: torch.Tensor, enc_lengths: torch.Tensor, text: torch.Tensor,
                  text_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CTC log-probabilities ``(B, T', V)`` of the CTC head's ``logits (B, T', V)`` and their loss."""
        log_probs = logits.float().log_softmax(-1)  # (B, T', V)
        loss = self.ctc_loss(log_probs.transpose(0, 1), text.clamp_min(0), enc_lengths, text_lengths)
        return log_probs, loss / logits.shape[0]  # per utterance, length_normalized_loss or not (ESPnet2)

    def _attention_loss(self, enc: torch.Tensor, enc_lengths: torch.Tensor, text: torch.Tensor,
                        text_lengths: torch.Tensor) -> tuple[torch.Tensor, float, list[list[int]]]:
        """Teacher-forced loss; ``ys_in = <sos> y``, ``ys_out = y <eos>``."""
        b, length = text.shape
        valid = torch.arange(length, device=text.device)[None, :] < text_lengths[:, None]  # (B, L)
        sos = text.new_full((b, 1), self.sos_eos_id)
        ys_in = torch.cat([sos, text.masked_fill(~valid, self.sos_eos_id)], dim=1)  # (B, L+1)
        ys_out = torch.cat([text.masked_fill(~valid, -1), text.new_full((b, 1), -1)], dim=1)
        ys_out[torch.arange(b), text_lengths] = self.sos_eos_id
        logits = self.decoder(enc, enc_lengths, ys_in)  # (B, L+1, V)
        loss = self.att_loss(logits, ys_out)
        mask = ys_out != -1
        pred = logits.argmax(-1)
        acc = float((pred[mask] == ys_out[mask]).float().mean())
        hyps = [row[: n].tolist() for row, n in zip(pred, text_lengths.tolist())]
        return loss, acc, hyps

    def _error_rate(self, hyps: list[list[int]], refs: torch.Tensor, ref_lengths: torch.Tensor, unit: str) -> float:
        errors = total = 0
        for hyp, ref, n in zip(hyps, refs, ref_lengths.tolist()):
            ref_text, hyp_text = (tokens_to_text([self.token_list[i] for i in ids if 0 < i < self.sos_eos_id])
                                  for ids in (ref[:n].tolist(), hyp))
            ref_units, hyp_units = ((t.split() if unit == "word" else list(t.replace(" ", "")))
                                    for t in (ref_text, hyp_text))
            errors += edit_distance(ref_units, hyp_units)
            total += len(ref_units)
        return errors / max(total, 1)
