"""NaN/inf losses: the batch is skipped without touching the weights; N in a row stop training."""

import logging

import lightning as L
import pytest
import torch

from vocalis.train.lightning_module import NonFiniteLossError


class Snapshots(L.Callback):
    """The model's weights before and after every training batch."""

    def __init__(self):
        self.before, self.after, self.steps = {}, {}, {}

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.before[batch_idx] = {k: v.clone() for k, v in module.model.state_dict().items()}

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.after[batch_idx] = {k: v.clone() for k, v in module.model.state_dict().items()}
        self.steps[batch_idx] = trainer.global_step


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_nan_batch_is_skipped_and_leaves_weights_alone(tiny, tmp_path, caplog):
    batches = tiny.batches(6, nan_at=(2,))
    module = tiny.module(tiny.model(), optimizer={"_target_": "torch.optim.AdamW", "lr": 0.01, "weight_decay": 0.1},
                         max_nonfinite_batches=2)
    snaps = Snapshots()
    with caplog.at_level(logging.WARNING, logger="vocalis.train.lightning_module"):
        tiny.trainer(tmp_path, [snaps], gradient_clip_val=1.0).fit(module, batches)
    assert _same(snaps.before[2], snaps.after[2])  # no parameter change, weight decay included
    for i in (0, 1, 3, 4, 5):
        assert not _same(snaps.before[i], snaps.after[i]), i
    assert all(torch.isfinite(v).all() for v in snaps.after[5].values())
    assert module.nonfinite_total == 1 and module.nonfinite_in_a_row == 0
    assert "non-finite loss (nan on rank 0) at global step 2 (epoch 0, batch 2, utterances ['b2u0'" in caplog.text


def test_under_accumulation_a_nan_batch_only_drops_its_own_gradients(tiny, tmp_path):
    snaps = Snapshots()
    module = tiny.module(tiny.model(), max_nonfinite_batches=4)
    tiny.trainer(tmp_path, [snaps], accumulate_grad_batches=2).fit(module, tiny.batches(4, nan_at=(1, 2, 3)))
    assert not _same(snaps.before[0], snaps.after[1])  # step 1: batch 0's gradients, batch 1 adds zeros
    assert _same(snaps.before[2], snaps.after[3])  # step 2: both batches skipped, nothing moves
    assert [snaps.steps[i] for i in range(4)] == [0, 1, 1, 2]


def test_consecutive_nan_batches_stop_training_with_the_key_name(tiny, tmp_path):
    batches = tiny.batches(6, nan_at=(1, 3, 4, 5))
    module = tiny.module(tiny.model(), max_nonfinite_batches=3)
    with pytest.raises(NonFiniteLossError, match=r"3 batches in a row .* max_nonfinite_batches=3") as err:
        tiny.trainer(tmp_path).fit(module, batches)
    assert "global step 5" in str(err.value)  # batch 1 alone was skipped and forgiven; 3, 4, 5 stop it
    assert module.nonfinite_total == 4


def test_max_nonfinite_batches_must_be_positive(tiny):
    with pytest.raises(ValueError, match="max_nonfinite_batches must be >= 1"):
        tiny.module(tiny.model(), max_nonfinite_batches=0)
