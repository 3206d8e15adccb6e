"""EMA of the weights: the exact recurrence over real optimizer steps, skipped batches, resume, ema.pth."""

import lightning as L
import pytest
import torch

from vocalis.train.callbacks import EMACallback
from vocalis.train.weights_io import read_weights


class Weights(L.Callback):
    """The model's weights at fit start and after every optimizer step."""

    def __init__(self):
        self.seen = []

    def on_fit_start(self, trainer, module):
        self.seen.append({k: v.clone() for k, v in module.model.state_dict().items()})

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.seen.append({k: v.clone() for k, v in module.model.state_dict().items()})


def expected_ema(history: list[dict], decay: float) -> dict:
    ema = {k: v.double() for k, v in history[0].items()}
    for weights in history[1:]:
        ema = {k: decay * ema[k] + (1 - decay) * weights[k].double() for k in ema}
    return ema


def test_ema_follows_the_recurrence_and_is_written_as_plain_weights(tiny, tmp_path):
    model = tiny.model()
    ema, weights = EMACallback(decay=0.7, path=tmp_path / "ema.pth"), Weights()
    tiny.trainer(tmp_path, [weights, ema]).fit(tiny.module(model), tiny.batches(5))
    assert ema.updates == 5 and len(weights.seen) == 6
    want = expected_ema(weights.seen, 0.7)
    saved = read_weights(tmp_path / "ema.pth")
    assert set(saved) == set(model.state_dict())
    for name, value in saved.items():
        assert torch.allclose(value.double(), want[name], atol=1e-6), name
    moved = max(float((saved[k] - weights.seen[-1][k]).abs().max()) for k in saved)
    assert moved > 1e-3  # the average lags the trained weights
    fresh = tiny.model(seed=1)
    fresh.load_state_dict(saved, strict=True)  # what inference with checkpoint: ema.pth does


def test_skipped_batches_do_not_move_the_average(tiny, tmp_path):
    ema, weights = EMACallback(decay=0.5), Weights()
    tiny.trainer(tmp_path, [weights, ema]).fit(tiny.module(tiny.model(), max_nonfinite_batches=5),
                                               tiny.batches(4, nan_at=(1,)))
    assert ema.updates == 3
    steps = [weights.seen[0]] + [w for i, w in enumerate(weights.seen[1:]) if i != 1]
    want = expected_ema(steps, 0.5)
    assert all(torch.allclose(ema.shadow[k].double(), want[k], atol=1e-6) for k in want)


def test_resumed_ema_matches_an_uninterrupted_one(tiny, tmp_path):
    straight = EMACallback(decay=0.8)
    tiny.trainer(tmp_path / "a", [straight], max_epochs=2).fit(tiny.module(tiny.model()), tiny.batches(3))
    first = EMACallback(decay=0.8)
    trainer = tiny.trainer(tmp_path / "b", [first], max_epochs=1)
    trainer.fit(tiny.module(tiny.model()), tiny.batches(3))
    trainer.save_checkpoint(tmp_path / "b.ckpt")
    resumed = EMACallback(decay=0.8)
    tiny.trainer(tmp_path / "c", [resumed], max_epochs=2).fit(tiny.module(tiny.model(seed=5)), tiny.batches(3),
                                                               ckpt_path=tmp_path / "b.ckpt")
    assert resumed.updates == straight.updates == 6
    assert all(torch.allclose(resumed.shadow[k], straight.shadow[k], atol=1e-6) for k in straight.shadow)


def test_a_resumed_run_with_gradient_accumulation_counts_only_optimizer_steps(tiny, tmp_path):
    """The first micro-batch after a resume is not an optimizer step (it was once, before the
    trainer's restored step reached the callback)."""
    straight = EMACallback(decay=0.8)
    tiny.trainer(tmp_path / "a", [straight], max_epochs=2, accumulate_grad_batches=2).fit(
        tiny.module(tiny.model()), tiny.batches(4))
    first = EMACallback(decay=0.8)
    trainer = tiny.trainer(tmp_path / "b", [first], max_epochs=1, accumulate_grad_batches=2)
    trainer.fit(tiny.module(tiny.model()), tiny.batches(4))
    trainer.save_checkpoint(tmp_path / "b.ckpt")
    resumed = EMACallback(decay=0.8)
    tiny.trainer(tmp_path / "c", [resumed], max_epochs=2, accumulate_grad_batches=2).fit(
        tiny.module(tiny.model(seed=5)), tiny.batches(4), ckpt_path=tmp_path / "b.ckpt")
    assert resumed.updates == straight.updates == 4
    assert all(torch.allclose(resumed.shadow[k], straight.shadow[k], atol=1e-6) for k in straight.shadow)


def test_decay_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="ema.decay must be between 0 and 1"):
        EMACallback(decay=1.0)
