"""Spoken digit strings from TTS voices and from human recordings, deterministically.

Every utterance is planned from its own random generator seeded by ``(seed, split,
index)``: the words, the voice, speaking rate, pitch, padding and noise. Rendering the
same plan twice gives the same audio, so a build can be resumed file by file and
split across processes in any order.

Voices (Debian packages ``espeak-ng`` and ``flite``):
    espeak-ng: 7 English accents x 16 voice variants, 22.05 kHz;
    flite: kal (8 kHz), kal16, awb, rms, slt (16 kHz).
Test voices are held out from train/valid: every espeak voice of the Caribbean accent
or of variants ``m3``, ``f4``, ``klatt3``, and flite ``rms``. ``test_fresh`` draws other
utterances of the same voices (its own seed stream): a split no config choice has looked at.

Human speech: the digit prompts of Debian's ``asterisk-core-sounds-en-wav`` (Allison
Smith, CC-BY-SA-3.0, 8 kHz), concatenated with random pauses.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vocalis.data.audio import load_audio, resample

SAMPLE_RATE = 16000
WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh")
ASTERISK_DIGITS = Path("/usr/share/asterisk/sounds/en_US_f_Allison/digits")
ASTERISK_FILES = {w: f"{i}.wav" for i, w in enumerate(WORDS[:10])} | {"oh": "oh.wav"}

ESPEAK_ACCENTS = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt2", "klatt3", "croak")
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
HELD_OUT_ACCENTS = ("en-029",)
HELD_OUT_VARIANTS = ("m3", "f4", "klatt3")
HELD_OUT_FLITE = ("rms",)
SPLIT_CODES = {"train": 1, "valid": 2, "test": 3, "test_human": 4, "test_fresh": 5}
HELD_OUT_SPLITS = ("test", "test_fresh")  # splits spoken by the test voices

REQUIRED_PROGRAMS = {"espeak-ng": "espeak-ng", "flite": "flite"}


def espeak_voices(held_out: bool) -> list[str]:
    """``accent+variant`` names for the training (``held_out=False``) or test voices."""
    voices = []
    for accent in ESPEAK_ACCENTS:
        for variant in ESPEAK_VARIANTS:
            is_held_out = accent in HELD_OUT_ACCENTS or variant in HELD_OUT_VARIANTS
            if is_held_out == held_out:
                voices.append(f"{accent}+{variant}")
    return voices


def flite_voices(held_out: bool) -> list[str]:
    return [v for v in FLITE_VOICES if (v in HELD_OUT_FLITE) == held_out]


def missing_requirements(need_human: bool) -> list[str]:
    """Debian packages to install before the corpus can be built (empty when all are there)."""
    missing = [pkg for prog, pkg in REQUIRED_PROGRAMS.items() if shutil.which(prog) is None]
    if need_human and not all((ASTERISK_DIGITS / f).is_file() for f in ASTERISK_FILES.values()):
        missing.append("asterisk-core-sounds-en-wav")
    return missing


@dataclass
class UtterancePlan:
    """Everything needed to render one utterance; drawn from the utterance's own generator."""

    utt_id: str
    words: list[str]
    engine: str  # espeak | flite | human
    voice: str
    rate: float = 1.0  # espeak words/min, flite duration stretch; unused for human
    pitch: float = 50.0  # espeak pitch 0-99, flite f0 mean in Hz
    word_gap: int = 0  # espeak pause between words, 10 ms units
    pauses: list[float] = field(default_factory=list)  # human: seconds between words
    pad: tuple[float, float] = (0.1, 0.1)  # seconds of silence before and after
    gain_db: float = 0.0
    noise: str = "none"  # none | white | brown
    snr_db: float = 40.0
    noise_seed: int = 0

    @property
    def text(self) -> str:
        return " ".join(self.words)


def plan_utterance(seed: int, split: str, index: int, min_words: int = 1, max_words: int = 8) -> UtterancePlan:
    """The plan of utterance ``index`` of ``split``: pure function of its arguments."""
    rng = np.random.default_rng([seed, SPLIT_CODES[split], index])
    words = [WORDS[i] for i in rng.integers(0, len(WORDS), size=int(rng.integers(min_words, max_words + 1)))]
    plan = UtterancePlan(utt_id=f"{split}_{index:06d}", words=words, engine="human", voice="allison")
    held_out = split in HELD_OUT_SPLITS
    if split == "test_human":
        plan.pauses = [float(p) for p in rng.uniform(0.02, 0.25, size=len(words) - 1)]
    elif rng.random() < 0.65:
        voices = espeak_voices(held_out)
        plan.engine, plan.voice = "espeak", voices[int(rng.integers(len(voices)))]
        plan.rate, plan.pitch, plan.word_gap = float(rng.uniform(120, 230)), float(rng.uniform(15, 85)), int(rng.integers(0, 5))
    else:
        voices = flite_voices(held_out)
        plan.engine, plan.voice = "flite", voices[int(rng.integers(len(voices)))]
        plan.rate, plan.pitch = float(rng.uniform(0.8, 1.25)), float(rng.uniform(0.8, 1.25))
    plan.pad = (float(rng.uniform(0.05, 0.4)), float(rng.uniform(0.05, 0.4)))
    plan.gain_db = float(rng.uniform(-12, 0))
    if split == "test_human":  # a quiet room rather than a noisy channel
        plan.noise, plan.snr_db = "white", float(rng.uniform(30, 45))
    else:
        plan.noise = ("none", "white", "brown")[int(rng.choice(3, p=[0.2, 0.4, 0.4]))]
        plan.snr_db = float(rng.uniform(5, 40))
    plan.noise_seed = int(rng.integers(2**31))
    return plan


def _run_tts(args: list[str], out: Path, utt_id: str) -> tuple[np.ndarray, int]:
    try:
        subprocess.run(args, check=True, capture_output=True, timeout=60)
    except FileNotFoundError as err:
        raise RuntimeError(f"utterance {utt_id}: {args[0]} is not installed; apt-get install "
                           f"{REQUIRED_PROGRAMS.get(args[0], args[0])}") from err
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"utterance {utt_id}: {' '.join(args)} failed: {err.stderr.decode(errors='replace')}") from err
    return load_audio(out, utt_id=utt_id)


def speak(plan: UtterancePlan, workdir: Path) -> np.ndarray:
    """The clean speech of ``plan`` at 16 kHz, float32 ``(N,)``."""
    out = workdir / f"{plan.utt_id}.wav"
    if plan.engine == "espeak":
        wave, rate = _run_tts(["espeak-ng", "-v", plan.voice, "-s", str(int(plan.rate)), "-p", str(int(plan.pitch)),
                               "-g", str(plan.word_gap), "-w", str(out), plan.text], out, plan.utt_id)
    elif plan.engine == "flite":
        f0 = 110.0 if plan.voice in ("kal", "kal16", "awb", "rms") else 170.0
        wave, rate = _run_tts(["flite", "-voice", plan.voice, "-t", plan.text, "-o", str(out),
                               "--setf", f"duration_stretch={plan.rate:.3f}",
                               "--setf", f"int_f0_target_mean={f0 * plan.pitch:.1f}"], out, plan.utt_id)
    else:
        return _join_human_digits(plan)
    out.unlink(missing_ok=True)
    return resample(wave, rate, SAMPLE_RATE)


def _join_human_digits(plan: UtterancePlan) -> np.ndarray:
    pieces = []
    for k, word in enumerate(plan.words):
        wave, rate = load_audio(ASTERISK_DIGITS / ASTERISK_FILES[word], utt_id=plan.utt_id)
        pieces.append(resample(wave, rate, SAMPLE_RATE))
        if k < len(plan.pauses):
            pieces.append(np.zeros(int(plan.pauses[k] * SAMPLE_RATE), dtype=np.float32))
    return np.concatenate(pieces)


def _noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    if kind == "white":
        return white
    brown = np.cumsum(white)
    brown -= np.linspace(brown[0], brown[-1], n)  # remove the random-walk drift
    return brown


def render(plan: UtterancePlan, workdir: Path) -> np.ndarray:
    """Speech with padding, gain and noise at the planned SNR; float32 ``(N,)`` at 16 kHz."""
    speech = speak(plan, workdir)
    speech = speech / max(float(np.abs(speech).max()), 1e-6) * 0.7 * 10 ** (plan.gain_db / 20)
    before, after = (np.zeros(int(p * SAMPLE_RATE), dtype=np.float32) for p in plan.pad)
    wave = np.concatenate([before, speech, after]).astype(np.float64)
    if plan.noise != "none":
        noise = _noise(plan.noise, len(wave), np.random.default_rng(plan.noise_seed))
        speech_power = float(np.mean(speech.astype(np.float64) ** 2))
        noise *= np.sqrt(speech_power / (np.mean(noise**2) * 10 ** (plan.snr_db / 10)))
        wave += noise
    return np.clip(wave, -1.0, 1.0).astype(np.float32)


def make_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="vocalis-digits-"))
