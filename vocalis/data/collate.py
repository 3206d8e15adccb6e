"""Pad a list of items into a batch: ``x`` -> ``x (B, T, ...)`` plus ``x_lengths (B,)``."""

from __future__ import annotations

import torch

FLOAT_PAD, INT_PAD = 0.0, -1


def collate(items: list[dict]) -> dict:
    """Tensors are padded (floats with 0.0, integers with -1) and get ``<key>_lengths``.

    Strings (``utt_id``, raw ``text`` kept for scoring) become lists. ``utt_id`` is
    the batch's id list; the training loop never passes it to the model.
    """
    if not items:
        raise ValueError("cannot collate an empty batch")
    batch: dict = {}
    for key in items[0]:
        values = [item[key] for item in items]
        if isinstance(values[0], torch.Tensor):
            lengths = torch.tensor([v.shape[0] for v in values], dtype=torch.long)
            pad = FLOAT_PAD if values[0].is_floating_point() else INT_PAD
            batch[key] = torch.nn.utils.rnn.pad_sequence(values, batch_first=True, padding_value=pad)
            batch[f"{key}_lengths"] = lengths
        else:
            batch[key] = values
    return batch
