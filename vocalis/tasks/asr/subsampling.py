"""Convolutional front of an encoder: shortens the frame sequence before attention."""

from __future__ import annotations

import torch
from torch import nn

from vocalis.tasks.asr.gemm_conv import GemmConv2d

# (kernel, stride) of each conv layer per subsampling factor, as in ESPnet's Conv2dSubsampling{,6,8}
_LAYERS = {4: ((3, 2), (3, 2)), 6: ((3, 2), (5, 3)), 8: ((3, 2), (3, 2), (3, 2))}
CHUNK_BYTES = 12 * 2**20  # first-conv activations per chunk on CPU (see utterances_per_chunk)


def _channels_last(grad: torch.Tensor) -> torch.Tensor:
    """The front output's gradient in the channels-last order of the last ReLU's saved output.

    The transpose in ``_front`` hands it back ordered ``(B, T', C, F')``; ReLU's backward reads
    it ~5x faster in the order of the output it compares against (2 x 2.2 s of audio at 256
    channels: 1.22 ms mixed against 0.26 ms after this copy), and the convolution's backward
    wants it channels-last anyway."""
    return grad.contiguous(memory_format=torch.channels_last)


class Conv2dSubsampling(nn.Module):
    """Strided 2-D convolutions: ``(B, T, F)`` -> ``(B, T', d_model)`` with ``T' ~ T / factor``.

    ``factor`` is 4 (two 3x3 stride-2 convs), 6 (3x3/2 then 5x5/3) or 8 (three 3x3/2).
    ``channels`` defaults to ``d_model``; fewer channels make the front cheaper (it is
    most of the encoder's compute on short utterances).
    """

    def __init__(self, input_size: int, d_model: int, channels: int | None = None, factor: int = 4):
        super().__init__()
        if factor not in _LAYERS:
            raise ValueError(f"subsampling factor must be one of {sorted(_LAYERS)}, got {factor}")
        channels = channels or d_model
        self.factor, self.layers, self.channels = factor, _LAYERS[factor], channels
        convs: list[nn.Module] = []
        freq = input_size
        for k, (kernel, stride) in enumerate(self.layers):
            # the one-channel first conv is cheap; the later ones are the front's arithmetic
            conv = nn.Conv2d(1, channels, kernel, stride) if k == 0 else GemmConv2d(channels, channels, kernel, stride)
            convs += [conv, nn.ReLU(inplace=True)]  # in place: a conv keeps its input, not its output, for backward
            freq = (freq - kernel) // stride + 1
        # channels-last weights make oneDNN run both convolutions and their backward in
        # channels-last (see _front)
        self.conv = nn.Sequential(*convs).to(memory_format=torch.channels_last)
        self.out = nn.Linear(channels * freq, d_model)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for kernel, stride in self.layers:
            lengths = (lengths - kernel) // stride + 1
        return lengths

    @property
    def min_input_frames(self) -> int:
        """Shortest input that yields one output frame."""
        n = 1
        for kernel, stride in reversed(self.layers):
            n = (n - 1) * stride + kernel
        return n

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, T, F)`` zero-padded past ``lengths (B,)`` -> ``(B, T', D)`` and ``(B,)`` output lengths.

        An utterance shorter than :attr:`min_input_frames` gets one output frame, computed over
        zeros past its end, whether it is alone (the input is zero-padded to that length here) or
        in a batch (where the padding already is): it decodes the same either way. Training data
        that short (under ~0.1 s at x6) carries no word anyway; filter it out beforehand.
        """
        if x.shape[1] < self.min_input_frames:
            x = nn.functional.pad(x, (0, 0, 0, self.min_input_frames - x.shape[1]))
        per_chunk = self.utterances_per_chunk(x)
        y = self._front(x) if per_chunk >= x.shape[0] else self._front_in_chunks(x, lengths, per_chunk)
        return y, self.output_lengths(lengths).clamp(min=1, max=y.shape[1])

    def _front_in_chunks(self, x: torch.Tensor, lengths: torch.Tensor, per_chunk: int) -> torch.Tensor:
        """The front over chunks of ``per_chunk`` utterances of similar length, each cut to its
        longest member: ``(B, T, F) -> (B, T', D)``.

        A valid output frame reads only its own utterance's valid input frames, so its value
        does not depend on the cut; output frames past a chunk's longest member are zero.
        Cutting skips the convolutions over padding (19 % of the first conv's input for the
        40-utterance greedy benchmark in batches of 16).
        """
        order = torch.argsort(lengths.cpu(), descending=True, stable=True)
        total = int(self.output_lengths(torch.tensor(x.shape[1])))
        chunks = []
        for i in range(0, x.shape[0], per_chunk):
            idx = order[i:i + per_chunk].to(x.device)
            frames = min(x.shape[1], max(int(lengths[idx].max()), self.min_input_frames))
            y = self._front(x[idx, :frames])  # (chunk, T'_chunk, D)
            chunks.append(nn.functional.pad(y, (0, 0, 0, total - y.shape[1])))
        return torch.cat(chunks).index_select(0, torch.argsort(order).to(x.device))

    def utterances_per_chunk(self, x: torch.Tensor) -> int:
        """How many utterances of ``x (B, T, F)`` go through the convolutions together.

        On CPU the first convolution's output (``channels x T/2 x F/2`` floats per utterance,
        5 MB for 256 channels and 2.6 s) outgrows the caches, and running a batch of 16
        through in chunks of ~12 MB made the front 1.4x faster forward and backward on the
        2-core box. GPUs take the batch whole.

        Without gradients (decoding) every utterance goes through alone, as fast on CPU and
        what makes an utterance's encoding independent of its batch: the channels-last
        convolutions' last bits depend on how many utterances share a call.
        """
        if x.device.type != "cpu":
            return x.shape[0]
        if not torch.is_grad_enabled():
            return 1
        kernel, stride = self.layers[0]
        frames, bins = (x.shape[1] - kernel) // stride + 1, (x.shape[2] - kernel) // stride + 1
        per_utterance = self.channels * frames * bins * x.element_size()
        return max(1, CHUNK_BYTES // per_utterance)

    def _front(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, F) -> (B, T', D)``.

        The convolutions run channels-last (their weights are): with channels-first tensors
        oneDNN's backward pass transposes the first conv's output to channels-last and back,
        a copy of the largest activation (on an AVX-512 Xeon, 29 ms of grad-input against
        12 ms channels-last for 2 x 2.2 s of audio); the later convolutions are
        :class:`~vocalis.tasks.asr.gemm_conv.GemmConv2d`.
        """
        x = self.conv(x.unsqueeze(1))  # (B, C, T', F'), channels-last strides
        if x.requires_grad:
            x.register_hook(_channels_last)
        b, c, t, f = x.shape
        return self.out(x.transpose(1, 2).reshape(b, t, c * f))  # (B, T', D)
