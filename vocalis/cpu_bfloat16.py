"""Whether this CPU has bfloat16 arithmetic, and a warning where bfloat16 autocast would be slow.

bfloat16 autocast on CPU (``trainer.precision: bf16-mixed``, ``model.dtype: bfloat16``) pays
off only where the CPU multiplies bfloat16 natively: AVX512-BF16 (Zen 4, Cooper Lake and later
Xeons) or AMX (Sapphire Rapids and later). Elsewhere oneDNN and MKL convert to float32 and back
around every product, and the run gets slower, not faster. Measured on the 2-core machines
(``bench/README.md``, ``egs3/digits/asr/EXPERIMENTS.md``):

- on an AVX2-only AMD EPYC Zen 3, CTC greedy decoding in bfloat16 was 8x slower than in float32;
- on an AMD EPYC Zen 4 (AVX512-BF16), the digits aug conformer trained 1.27x faster under
  ``bf16-mixed``, with the same WER for its seed.

So Vocalis never switches precision by itself. It warns when bfloat16 is asked for on a CPU
that lacks both features, and says how to go back to float32.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo names of the two features
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str] | None:
    """The feature flags of this machine's CPU (the first ``flags`` line of ``cpuinfo``), or
    None where the file does not exist or has no flags line (not Linux, not x86)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return None


def has_bfloat16_arithmetic(flags: set[str] | None = None) -> bool | None:
    """True with AVX512-BF16 or AMX, False without either, None where the flags are unknown."""
    flags = cpu_flags() if flags is None else flags
    return None if flags is None else any(flag in flags for flag in BFLOAT16_FLAGS)


def warn_if_bfloat16_is_slow(setting: str, float32_setting: str, flags: set[str] | None = None) -> bool:
    """Log a warning naming ``setting`` (what asked for bfloat16) and ``float32_setting`` (the fix)
    if this CPU has no bfloat16 arithmetic; returns whether it warned."""
    if has_bfloat16_arithmetic(flags) is not False:
        return False
    log.warning("%s: this CPU has no bfloat16 arithmetic (neither %s in %s), so bfloat16 autocast is emulated "
                "and runs slower than float32 (8x for CTC greedy decoding on an AVX2 AMD EPYC). Use %s here, "
                "and keep bfloat16 for CPUs with one of those flags or for GPUs",
                setting, " nor ".join(BFLOAT16_FLAGS), CPUINFO, float32_setting)
    return True
