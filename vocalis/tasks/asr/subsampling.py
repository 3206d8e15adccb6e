"""Convolutional front of an encoder: shortens the frame sequence before attention."""

from __future__ import annotations

import torch
from torch import nn


class Conv2dSubsampling(nn.Module):
    """Two 3x3 stride-2 convolutions: ``(B, T, F)`` -> ``(B, T', d_model)``, ``T' = ((T-1)//2 - 1)//2``.

    ``channels`` defaults to ``d_model``; fewer channels make the front cheaper (it is
    most of the encoder's compute on short utterances).
    """

    def __init__(self, input_size: int, d_model: int, channels: int | None = None):
        super().__init__()
        channels = channels or d_model
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, 2), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 2), nn.ReLU(),
        )
        freq = ((input_size - 1) // 2 - 1) // 2
        self.out = nn.Linear(channels * freq, d_model)

    @staticmethod
    def output_lengths(lengths: torch.Tensor) -> torch.Tensor:
        return ((lengths - 1) // 2 - 1) // 2

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[1] < 7:
            raise ValueError(f"input of {x.shape[1]} frames is too short for x4 subsampling (needs >= 7)")
        x = self.conv(x.unsqueeze(1))  # (B, C, T', F')
        b, c, t, f = x.shape
        x = self.out(x.transpose(1, 2).reshape(b, t, c * f))  # (B, T', D)
        return x, self.output_lengths(lengths).clamp(min=1, max=t)
