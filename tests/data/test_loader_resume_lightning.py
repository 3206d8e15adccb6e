"""A Lightning run resumed from a mid-epoch checkpoint continues the epoch instead of replaying it."""

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from vocalis.data.duration_batching import DurationBatchSampler
from vocalis.train.data import BatchLoader, PipelineDataset


class _Items(torch.utils.data.Dataset):
    def __len__(self):
        return 48

    def __getitem__(self, i):
        return {"utt_id": f"u{i:02d}", "x": torch.full((1,), float(i))}


class _Pass:
    def __call__(self, item, epoch=0):
        return item


def _collate(items):
    return {"utt_id": [x["utt_id"] for x in items], "x": torch.stack([x["x"] for x in items])}


class _Recorder(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[tuple[int, list[str]]] = []

    def training_step(self, batch, _):
        self.seen.append((self.current_epoch, batch["utt_id"]))
        return (self.w * batch["x"]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def _loader():
    sampler = DurationBatchSampler(np.linspace(1, 5, 48), batch_size=4, seed=7)
    return BatchLoader(PipelineDataset(_Items(), _Pass()), sampler, collate_fn=_collate)


def _trainer(tmp_path, callbacks=()):
    return L.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_progress_bar=False,
                     enable_model_summary=False, use_distributed_sampler=False, callbacks=list(callbacks),
                     default_root_dir=tmp_path)


def test_mid_epoch_checkpoint_resumes_the_rest_of_the_epoch(tmp_path):
    full = _Recorder()
    ckpt = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=17, save_top_k=-1, filename="s{step}", auto_insert_metric_name=False)
    _trainer(tmp_path, [ckpt]).fit(full, _loader())
    assert len(full.seen) == 24 and full.seen[0][1] != full.seen[12][1]  # epoch 1 is shuffled differently

    resumed = _Recorder()
    _trainer(tmp_path).fit(resumed, _loader(), ckpt_path=tmp_path / "s17.ckpt")
    # step 17 = after the 5th batch of epoch 1: the resumed run trains exactly the 7 batches after it
    assert [b for _, b in resumed.seen] == [b for _, b in full.seen[17:]]
    assert all(epoch == 1 for epoch, _ in resumed.seen)


def test_end_of_epoch_checkpoint_resumes_with_the_next_epochs_batches(tmp_path):
    """Lightning restores no loader state at an epoch boundary (the usual last.ckpt); the loader
    takes the epoch from the trainer instead of replaying epoch 0's batches and augmentation."""
    def trainer(callbacks=()):
        return L.Trainer(max_epochs=3, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, use_distributed_sampler=False, callbacks=list(callbacks),
                         default_root_dir=tmp_path)

    full = _Recorder()
    trainer([ModelCheckpoint(dirpath=tmp_path, save_top_k=-1, filename="e{epoch}", auto_insert_metric_name=False)]).fit(
        full, _loader())
    resumed = _Recorder()
    trainer().fit(resumed, _loader(), ckpt_path=tmp_path / "e0.ckpt")
    assert [b for _, b in resumed.seen] == [b for _, b in full.seen[12:]]  # epochs 1 and 2, as uninterrupted
    assert [e for e, _ in resumed.seen] == [1] * 12 + [2] * 12
