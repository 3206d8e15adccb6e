"""The bench model of bench_espnet.py (ESPnet's config names and sizes, built on both sides) and
the Vocalis side of the bench: the model, its frontend, its training step and its decoders."""

from __future__ import annotations

import time
from typing import Callable

import torch

from vocalis.data.audio import load_audio
from vocalis.data.features import Fbank
from vocalis.decode.beam_search import BeamSearchOptions, beam_search
from vocalis.decode.ctc_greedy import ctc_greedy
from vocalis.infer.int8 import quantize_int8, recording_front_ranges
from vocalis.tasks.asr.decoder import TransformerDecoder
from vocalis.tasks.asr.hybrid_model import HybridCTCAttentionModel
from vocalis.tasks.asr.transformer_encoder import TransformerEncoder
from vocalis.train.optimizers import build_optimizer
from vocalis.train.schedulers import WarmupLR

from timed_step import timed_steps  # noqa: E402 (bench/ sibling)

ENC = dict(output_size=256, attention_heads=4, linear_units=1024, num_blocks=6, dropout_rate=0.1,
           positional_dropout_rate=0.1, attention_dropout_rate=0.0, input_layer="conv2d", normalize_before=True)
DEC = dict(attention_heads=4, linear_units=1024, num_blocks=3, dropout_rate=0.1, positional_dropout_rate=0.1,
           self_attention_dropout_rate=0.0, src_attention_dropout_rate=0.0)
MODEL_CONF = dict(ctc_weight=0.3, lsm_weight=0.1, length_normalized_loss=False)
FRONTEND = dict(fs=16000, n_fft=512, win_length=400, hop_length=160, n_mels=80)
BATCH = 16
LR, WARMUP = 1e-3, 100


def build_vocalis(vocab: int) -> HybridCTCAttentionModel:
    enc = TransformerEncoder(80, ENC["output_size"], ENC["attention_heads"], ENC["linear_units"], ENC["num_blocks"],
                             ENC["dropout_rate"], subsampling_factor=4)
    dec = TransformerDecoder(vocab, ENC["output_size"], DEC["attention_heads"], DEC["linear_units"], DEC["num_blocks"],
                             DEC["dropout_rate"], DEC["self_attention_dropout_rate"], DEC["src_attention_dropout_rate"])
    return HybridCTCAttentionModel(vocab, enc, dec, MODEL_CONF["ctc_weight"], MODEL_CONF["lsm_weight"],
                                   MODEL_CONF["length_normalized_loss"])


class VocalisFrontend:
    """Kaldi fbank (Vocalis' Fbank, batched, float32) + utterance mean normalisation over the valid frames."""

    def __init__(self):
        self.fbank = Fbank(n_mels=80, float64=False).eval()  # float32, as ESPnet's and Kaldi's

    def __call__(self, waves: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        lens = torch.tensor([len(w) for w in waves])
        x = torch.zeros(len(waves), int(lens.max()))
        for i, w in enumerate(waves):
            x[i, : len(w)] = w
        feats, flens = self.fbank.forward_batch(x, lens)
        valid = (torch.arange(feats.shape[1])[None, :] < flens[:, None])[..., None]
        mean = (feats * valid).sum(1, keepdim=True) / flens[:, None, None]
        return (feats - mean) * valid, flens


class VocalisTrainer:
    def __init__(self, vocab: int, seed: int = 0):
        torch.manual_seed(seed)
        self.model = build_vocalis(vocab)
        # as a recipe's optimizer block builds it (PyTorch's fused Adam kernel, see build_optimizer)
        self.opt = build_optimizer(self.model, {"_target_": "torch.optim.Adam", "lr": LR})
        self.sched = WarmupLR(self.opt, warmup_steps=WARMUP)
        self.frontend = VocalisFrontend()
        self.waves: dict[str, torch.Tensor] = {}

    def wave(self, path: str) -> torch.Tensor:
        if path not in self.waves:
            self.waves[path] = torch.from_numpy(load_audio(path, 16000)[0])
        return self.waves[path]

    def train(self, batches: list[list[dict]], bf16: bool = False) -> dict:
        """Per-step wall times and losses (:func:`timed_step.timed_steps`); the fbank runs in
        float32 inside the timed step, ``bf16`` puts the model's forward under autocast."""
        prepared = []
        for b in batches:
            ids = [torch.tensor(u["ids"]) for u in b]
            text = torch.nn.utils.rnn.pad_sequence(ids, batch_first=True, padding_value=-1)
            prepared.append(([self.wave(u["path"]) for u in b], text, torch.tensor([len(i) for i in ids])))

        def features(batch):
            waves, text, tl = batch
            with torch.no_grad():
                feats, flens = self.frontend(waves)
            return feats, flens, text, tl

        return timed_steps(self.model, self.opt, self.sched, prepared, lambda f: self.model(*f)[0], features,
                           bf16=bf16)


def pad_feats(feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    lens = torch.tensor([f.shape[0] for f in feats])
    return torch.nn.utils.rnn.pad_sequence(feats, batch_first=True), lens


@torch.inference_mode()
def vocalis_beam(model, items: list[dict], batch_size: int, frontend: VocalisFrontend, opts: BeamSearchOptions,
                 use_espnet_feats: bool) -> tuple[float, dict[str, list[int]]]:
    """Decode ``items`` (sorted by length, batches of ``batch_size``); returns (seconds, utt_id -> ids)."""
    order = sorted(items, key=lambda it: len(it["wave"]))
    hyps, total = {}, 0.0
    for i in range(0, len(order), batch_size):
        batch = order[i:i + batch_size]
        start = time.perf_counter()
        own, own_lens = frontend([it["wave"] for it in batch])  # always paid for, see the module docstring
        feats, lens = pad_feats([it["esp_feats"] for it in batch]) if use_espnet_feats else (own, own_lens)
        enc, enc_lens = model.encode(feats, lens)
        nbest = beam_search(model.decoder, model.ctc_head, enc, enc_lens, model.sos_eos_id, opts)
        total += time.perf_counter() - start
        for it, h in zip(batch, nbest):
            hyps[it["utt_id"]] = h[0].tokens if h else []
    return total, hyps


@torch.inference_mode()
def vocalis_ctc_greedy(model, items: list[dict], batch_size: int, frontend: VocalisFrontend,
                       dtype: torch.dtype = torch.float32) -> tuple[float, dict]:
    """``dtype`` bfloat16: the network under autocast, as ``model.dtype: bfloat16`` runs it (Speech2Text)."""
    order = sorted(items, key=lambda it: len(it["wave"]))
    hyps, total = {}, 0.0
    for i in range(0, len(order), batch_size):
        batch = order[i:i + batch_size]
        start = time.perf_counter()
        feats, lens = frontend([it["wave"] for it in batch])
        with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
            logits, out_lens = model.ctc_logits(feats, lens)
        ids = ctc_greedy(logits, out_lens)
        total += time.perf_counter() - start
        hyps.update({it["utt_id"]: h for it, h in zip(batch, ids)})
    return total, hyps


def best_greedy(model, items: list[dict], frontend: VocalisFrontend, audio_s: float,
                dtype: torch.dtype = torch.float32) -> tuple[float, dict]:
    """CTC greedy RTF in batches of 16, the fastest of 3 passes after a warm-up, and its hypotheses."""
    vocalis_ctc_greedy(model, items[:16], 16, frontend, dtype)
    runs = [vocalis_ctc_greedy(model, items, 16, frontend, dtype) for _ in range(3)]
    return min(r[0] for r in runs) / audio_s, runs[0][1]


def int8_copy(model: torch.nn.Module, calibrate: Callable[[torch.nn.Module], object]) -> torch.nn.Module:
    """``model.dtype: int8``'s copy of ``model``: its conv-front ranges are recorded while
    ``calibrate(model)`` runs the model on some utterances."""
    with recording_front_ranges(model) as ranges, torch.inference_mode():
        calibrate(model)
    return quantize_int8(model, ranges)
