"""The data side: from a corpus on disk to padded batches.

Flow (training): ``DataOrganizer`` (organizer.py) builds each split from ``dataset:``
entries -> items ``{"utt_id", "speech": (N,), "text"}`` -> :class:`SpeechTextPipeline`
(pipeline.py): train-only waveform augmentation (augment/: speed, noise) -> Kaldi fbank
(features.py) [kept per utterance and speed factor by feature_cache.py, filled before
training by vocalis/train/feature_precompute.py] -> SpecAugment ->
normalisation (normalize.py) -> token ids (tokenizer.py) -> :class:`DurationBatchSampler`
(duration_batching.py) -> ``collate`` (collate.py).

Config keys (training.yaml): ``augment.{speed_perturb, noise, specaug, in_collect_stats}``,
``dataloader.{batch_size, batch_seconds, quadratic_duration, max_batch_size, num_buckets,
shuffle, sort_by_length, bucket_augmented_lengths, num_workers, feature_cache_gb,
precompute_features, precompute_store}``, ``collect_stats.max_bad_fraction``.

Corpus formats (formats/): LibriSpeech folders, Kaldi data dirs, JSONL manifests; TSV
manifests in manifest.py. Each can be a ``data_src`` (``vocalis.data.formats.kaldi`` ...).
collect_stats' per-split files (``feats_shape``, ``bad_utts``) are read by shapes.py.
"""
