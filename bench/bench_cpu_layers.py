"""CPU layers against the torch.nn modules they replace, side by side in one process.

- ``Dropout`` (``vocalis.tasks.asr.dropout``) against ``nn.Dropout``: forward + backward;
- ``DepthwiseConv1d`` (``vocalis.tasks.asr.depthwise_conv``) against the depthwise
  ``nn.Conv1d`` of a conformer's convolution module: forward + backward;

at the shapes of the digits conformer (batch 32, 31 frames after x6 subsampling, 144
channels) and of a LibriSpeech-sized conformer (batch 16, 150 frames, 256 channels)::

    python bench/bench_cpu_layers.py

Prints milliseconds per call and the speed-up (reference ÷ ours). Runs on 2 threads.
Nothing is written.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch
from torch import nn

from vocalis.tasks.asr.depthwise_conv import DepthwiseConv1d
from vocalis.tasks.asr.dropout import Dropout


def milliseconds(step: Callable[[], None], repeats: int) -> float:
    """Median wall time of ``step`` in ms, after 3 warm-up calls."""
    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1e3 * sorted(times)[len(times) // 2]


def forward_backward(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    grad = torch.randn_like(x)
    params = [p for p in module.parameters()]

    def step() -> None:
        torch.autograd.grad(module(x), [x, *params], grad)
    return step


def report(name: str, ours: float, ref: float) -> None:
    print(f"{name:64s} torch.nn {ref:7.3f} ms   vocalis {ours:7.3f} ms   {ref / ours:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shapes = {"digits conformer (32, 31, 144)": (32, 31, 144, 15),
              "LibriSpeech conformer (16, 150, 256)": (16, 150, 256, 31)}
    for label, (batch, frames, dim, kernel) in shapes.items():
        for width in (dim, 4 * dim):  # a residual branch, and a feed-forward hidden layer
            x = torch.randn(batch, frames, width, requires_grad=True)
            ref = milliseconds(forward_backward(nn.Dropout(0.1).train(), x), args.repeats)
            ours = milliseconds(forward_backward(Dropout(0.1).train(), x), args.repeats)
            report(f"dropout 0.1, {label.split(' (')[0]} {tuple(x.shape)}", ours, ref)
        x = torch.randn(batch, dim, frames, requires_grad=True)
        ours_conv = DepthwiseConv1d(dim, kernel)
        ref_conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        ref_conv.load_state_dict(ours_conv.state_dict())
        ref = milliseconds(forward_backward(ref_conv, x), args.repeats)
        ours = milliseconds(forward_backward(ours_conv, x), args.repeats)
        report(f"depthwise conv K={kernel}, {label}", ours, ref)


if __name__ == "__main__":
    main()
