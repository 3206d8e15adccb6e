"""DataLoaders for training: dataset items through the pipeline, length-sorted batches."""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from vocalis.data.batching import SortedBatchSampler
from vocalis.data.collate import collate
from vocalis.data.pipeline import SpeechTextPipeline


class PipelineDataset(torch.utils.data.Dataset):
    """``dataset[i]`` passed through the pipeline (features, normalisation, token ids)."""

    def __init__(self, dataset, pipeline: SpeechTextPipeline):
        self.dataset, self.pipeline = dataset, pipeline

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        return self.pipeline(self.dataset[index])


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # the training process owns the cores; a loader worker needs one


def build_loader(dataset, pipeline: SpeechTextPipeline, lengths: list[int], cfg: DictConfig, train: bool,
                 seed: int) -> DataLoader:
    """A DataLoader over ``dataset`` as ``dataloader:`` in training.yaml describes it.

    With ``sort_by_length`` (default) batches hold utterances of similar length (from
    collect_stats' shapes) and only the batch order is shuffled, so padding stays small.
    """
    wrapped = PipelineDataset(dataset, pipeline)
    workers = int(cfg.num_workers)
    common = dict(collate_fn=collate, num_workers=workers, persistent_workers=workers > 0,
                  worker_init_fn=_worker_init if workers else None)
    if cfg.sort_by_length:
        sampler = SortedBatchSampler(lengths, int(cfg.batch_size), shuffle=train and bool(cfg.shuffle), seed=seed)
        return DataLoader(wrapped, batch_sampler=sampler, **common)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(wrapped, batch_size=int(cfg.batch_size), shuffle=train and bool(cfg.shuffle),
                      generator=generator, **common)
