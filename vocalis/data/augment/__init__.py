"""Train-time augmentation: SpecAugment, speed perturbation, additive noise.

Configured by ``augment:`` in training.yaml and applied to the train split only;
valid/test and collect_stats (unless ``augment.in_collect_stats``) see clean data.
"""

from .chain import Augmentation, build_augmentation, utterance_rng
from .noise import AddNoise
from .spec_augment import SpecAugment, mask_along_axis, warp_freq, warp_time
from .speed import SpeedPerturb

__all__ = ["AddNoise", "Augmentation", "SpecAugment", "SpeedPerturb", "build_augmentation", "mask_along_axis",
           "utterance_rng", "warp_freq", "warp_time"]
