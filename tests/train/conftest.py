"""A tiny real CTC model and synthetic feature batches for Lightning training tests."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from vocalis.data.audio import write_audio
from vocalis.tasks.asr.ctc_model import CTCModel
from vocalis.train.lightning_module import VocalisModule

FEATS, VOCAB = 16, 6  # 16 features: the front's output is 3 wide (bfloat16 convolutions of output width 1 are wrong in torch 2.13 on CPU)


def make_batches(n: int, seed: int = 0, nan_at: tuple[int, ...] = (), batch: int = 4) -> DataLoader:
    """A loader of ``n`` fixed batches of random features ``(B, 24, FEATS)`` and token targets;
    ``nan_at`` batches hold a NaN feature."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        speech = torch.randn(batch, 24, FEATS, generator=gen)
        if i in nan_at:
            speech[0, 3, 1] = float("nan")
        out.append({"utt_id": [f"b{i}u{j}" for j in range(batch)], "speech": speech,
                    "speech_lengths": torch.full((batch,), 24), "text": torch.randint(1, VOCAB, (batch, 3), generator=gen),
                    "text_lengths": torch.full((batch,), 3)})
    return DataLoader(out, batch_size=None, shuffle=False)


def tiny_model(seed: int = 0) -> CTCModel:
    torch.manual_seed(seed)
    return CTCModel(VOCAB, input_size=FEATS, d_model=16, num_heads=2, ffn_dim=32, num_layers=1, dropout=0.0,
                    subsampling_channels=4)


def tiny_module(model: torch.nn.Module, optimizer: dict | None = None, scheduler: dict | None = None,
                interval: str = "step", **kwargs) -> VocalisModule:
    optimizer = optimizer or {"_target_": "torch.optim.Adam", "lr": 0.01}
    return VocalisModule(model, None, OmegaConf.create(optimizer), OmegaConf.create(scheduler) if scheduler else None,
                         interval, **kwargs)


def tiny_trainer(tmp_path, callbacks=(), **kwargs) -> L.Trainer:
    defaults = dict(default_root_dir=tmp_path, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False, max_epochs=1, num_sanity_val_steps=0)
    defaults.update(kwargs)
    return L.Trainer(callbacks=list(callbacks), **defaults)


@pytest.fixture
def tiny():
    """The helpers above, as a namespace."""
    import types

    return types.SimpleNamespace(batches=make_batches, model=tiny_model, module=tiny_module, trainer=tiny_trainer,
                                 FEATS=FEATS, VOCAB=VOCAB)


@pytest.fixture()
def audio_files(tmp_path):
    """Four FLAC files, 0.5-1.1 s of tones in light noise, at 16 kHz."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(4):
        t = np.arange(int(16000 * (0.5 + 0.2 * i))) / 16000
        wave = 0.3 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 0.01 * rng.standard_normal(t.size)
        paths.append(tmp_path / f"u{i}.flac")
        write_audio(paths[-1], wave.astype(np.float32), 16000)
    return paths
