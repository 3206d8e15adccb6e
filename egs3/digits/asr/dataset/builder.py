"""Build the digits corpus: FLAC files under ``<data_dir>/audio/<split>/`` and a manifest per split.

The build is resumable: audio files are written atomically and a file that already
exists is kept (plans are deterministic, so it holds what would be rendered again).
``<data_dir>/.built`` records the settings of the finished build; the stage skips the
builder when they match.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from vocalis.data.audio import write_audio
from vocalis.data.manifest import write_manifest

from .synthesis import SAMPLE_RATE, missing_requirements, plan_utterance, render

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ("utt_id", "path", "text", "duration", "voice")
MARKER = ".built"


def _render_to_file(job: tuple[int, str, int, int, int, str]) -> dict:
    """Worker: render one planned utterance into its FLAC file (kept if already there)."""
    seed, split, index, min_words, max_words, data_dir = job
    plan = plan_utterance(seed, split, index, min_words, max_words)
    path = Path(data_dir) / "audio" / split / f"{plan.utt_id}.flac"
    if not path.is_file():
        workdir = Path(tempfile.mkdtemp(prefix="vocalis-digits-"))
        try:
            write_audio(path, render(plan, workdir), SAMPLE_RATE)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    return {"utt_id": plan.utt_id, "path": f"../audio/{split}/{path.name}", "text": plan.text,
            "duration": f"{sf.info(str(path)).duration:.3f}", "voice": f"{plan.engine}:{plan.voice}"}


class DatasetBuilder:
    """Make the spoken-digits corpus on this machine, offline, from a seed.

    ``build`` keyword arguments (the ``create_dataset:`` block of training.yaml):
        data_dir: output folder; num_train / num_valid / num_test / num_test_human / num_test_fresh:
        utterances per split (``test_fresh``, 0 by default, is test's voices again with other
        utterances: keep it for a final check); seed; num_workers: rendering processes;
        min_words / max_words: length range of the digit strings.
    """

    def _settings(self, **kwargs) -> dict:
        settings = {"num_train": 3000, "num_valid": 200, "num_test": 300, "num_test_human": 150, "num_test_fresh": 0,
                    "seed": 0,
                    "min_words": 1, "max_words": 8}
        unknown = set(kwargs) - set(settings) - {"data_dir", "num_workers"}
        if unknown:
            raise TypeError(f"create_dataset: unknown keys {sorted(unknown)} for the digits corpus; "
                            f"known: data_dir, num_workers, {', '.join(settings)}")
        settings.update({k: v for k, v in kwargs.items() if k in settings})
        if not settings["num_test_fresh"]:  # corpora built before the split existed stay built
            del settings["num_test_fresh"]
        if not 1 <= settings["min_words"] <= settings["max_words"]:
            raise ValueError(f"create_dataset: need 1 <= min_words <= max_words, got {settings['min_words']} "
                             f"and {settings['max_words']}")
        return settings

    @staticmethod
    def _data_dir(kwargs: dict) -> Path:
        if "data_dir" not in kwargs:
            raise TypeError("create_dataset.data_dir is required: where the digits corpus is written")
        return Path(kwargs["data_dir"]).resolve()

    def is_source_prepared(self, **kwargs) -> bool:
        return not missing_requirements(self._settings(**kwargs)["num_test_human"] > 0)

    def prepare_source(self, **kwargs) -> None:
        missing = missing_requirements(self._settings(**kwargs)["num_test_human"] > 0)
        if missing:
            raise RuntimeError(f"the digits corpus needs Debian packages {' '.join(missing)}: run "
                               f"`sudo apt-get install {' '.join(missing)}` (or bash tools/install.sh)")

    def is_built(self, **kwargs) -> bool:
        settings, marker = self._settings(**kwargs), self._data_dir(kwargs) / MARKER
        return marker.is_file() and json.loads(marker.read_text()) == settings

    def build(self, **kwargs) -> None:
        settings, data_dir = self._settings(**kwargs), self._data_dir(kwargs)
        self.prepare_source(**kwargs)
        (data_dir / MARKER).unlink(missing_ok=True)
        self._keep_audio_only_if_same_plan(data_dir, settings)
        sizes = {"train": settings["num_train"], "valid": settings["num_valid"], "test": settings["num_test"],
                 "test_human": settings["num_test_human"], "test_fresh": settings.get("num_test_fresh", 0)}
        workers = max(1, int(kwargs.get("num_workers", os.cpu_count() or 1)))
        start = time.time()
        with ProcessPoolExecutor(workers) as pool:
            for split, size in sizes.items():
                if size == 0:
                    continue
                jobs = [(settings["seed"], split, i, settings["min_words"], settings["max_words"], str(data_dir))
                        for i in range(size)]
                rows = list(tqdm(pool.map(_render_to_file, jobs, chunksize=8), total=size, desc=f"digits {split}",
                                 leave=False, disable=None))
                write_manifest(data_dir / "manifest" / f"{split}.tsv", rows, MANIFEST_COLUMNS)
                self._remove_stale_audio(data_dir / "audio" / split, {Path(r["path"]).name for r in rows})
        total = sum(sizes.values())
        log.info("digits corpus: %d utterances in %.1f s (%.0f utt/s) under %s", total, time.time() - start,
                 total / max(time.time() - start, 1e-9), data_dir)
        tmp = data_dir / f"{MARKER}.partial"
        tmp.write_text(json.dumps(settings, sort_keys=True))
        os.replace(tmp, data_dir / MARKER)

    @staticmethod
    def _keep_audio_only_if_same_plan(data_dir: Path, settings: dict) -> None:
        """Audio from an earlier (maybe interrupted) build is reused only if it was planned alike."""
        plan = {k: settings[k] for k in ("seed", "min_words", "max_words")}
        plan_file = data_dir / ".plan"
        if plan_file.is_file() and json.loads(plan_file.read_text()) != plan:
            log.info("digits corpus: seed or word range changed, removing old audio under %s", data_dir / "audio")
            shutil.rmtree(data_dir / "audio", ignore_errors=True)
        data_dir.mkdir(parents=True, exist_ok=True)
        plan_file.write_text(json.dumps(plan, sort_keys=True))

    @staticmethod
    def _remove_stale_audio(audio_dir: Path, keep: set[str]) -> None:
        """Files left from a larger earlier build are not in the manifest; drop them."""
        for path in audio_dir.glob("*.flac"):
            if path.name not in keep:
                path.unlink()
