"""bfloat16 on CPUs without bfloat16 arithmetic: detected from /proc/cpuinfo, warned about, never switched."""

import logging

from vocalis.cpu_bfloat16 import cpu_flags, has_bfloat16_arithmetic, warn_if_bfloat16_is_slow
from vocalis.stages.train import _bfloat16_on_cpu

ZEN3 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n"
ZEN4 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd bf16\n"


def test_the_flags_are_read_from_the_first_cpu_and_unknown_where_there_is_no_flags_line(tmp_path):
    for name, text in (("zen3", ZEN3), ("zen4", ZEN4), ("arm", ARM)):
        (tmp_path / name).write_text(text)
    assert cpu_flags(tmp_path / "zen3") == {"fpu", "sse2", "avx", "avx2", "fma"}
    assert "avx512_bf16" in cpu_flags(tmp_path / "zen4")
    assert cpu_flags(tmp_path / "arm") is None
    assert cpu_flags(tmp_path / "missing") is None


def test_avx512_bf16_or_amx_counts_as_bfloat16_arithmetic():
    assert has_bfloat16_arithmetic({"avx2", "avx512_bf16"}) is True
    assert has_bfloat16_arithmetic({"avx512f", "amx_bf16", "amx_tile"}) is True
    assert has_bfloat16_arithmetic({"avx2", "avx512f", "avx512_vnni"}) is False


def test_a_cpu_without_it_gets_a_warning_that_names_the_setting_and_the_float32_fix(caplog):
    with caplog.at_level(logging.WARNING, logger="vocalis.cpu_bfloat16"):
        assert warn_if_bfloat16_is_slow("trainer.precision=bf16-mixed", "trainer.precision=32-true",
                                        flags={"avx2", "fma"})
    message = caplog.records[-1].getMessage()
    assert message.startswith("trainer.precision=bf16-mixed: this CPU has no bfloat16 arithmetic")
    assert "avx512_bf16 nor amx_bf16" in message and "Use trainer.precision=32-true here" in message


def test_a_cpu_with_it_gets_no_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="vocalis.cpu_bfloat16"):
        assert not warn_if_bfloat16_is_slow("model.dtype: bfloat16", "model.dtype: float32", flags={"avx512_bf16"})
    assert not caplog.records


def test_the_train_stage_checks_only_bfloat16_training_on_the_cpu():
    assert _bfloat16_on_cpu({"precision": "bf16-mixed", "accelerator": "cpu"})
    assert _bfloat16_on_cpu({"precision": "bf16-true", "accelerator": "cpu"})
    assert not _bfloat16_on_cpu({"precision": "32-true", "accelerator": "cpu"})
    assert not _bfloat16_on_cpu({"accelerator": "cpu"})
    assert not _bfloat16_on_cpu({"precision": "bf16-mixed", "accelerator": "gpu"})
