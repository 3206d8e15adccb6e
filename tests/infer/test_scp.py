"""scp files: written values read back as they were; Kaldi lists separated by a tab read too."""

from vocalis.infer.scp import read_scp, write_scp
from vocalis.publish.audio_inputs import list_audio_inputs


def test_values_round_trip_and_a_tab_separates_like_a_space(tmp_path):
    written = [("a", "one  two"), ("b", ""), ("c", "x\ty")]
    assert read_scp(write_scp(tmp_path / "hyp.scp", written)) == dict(written)
    (tmp_path / "tab.scp").write_text("a\tone two\nb\n")
    assert read_scp(tmp_path / "tab.scp") == {"a": "one two", "b": ""}


def test_a_tab_separated_wav_scp_lists_its_audio(tmp_path):
    (tmp_path / "x.flac").write_bytes(b"")
    (tmp_path / "wav.scp").write_text("utt_a\tx.flac\nutt_b   x.flac\n")
    assert list_audio_inputs([str(tmp_path / "wav.scp")]) == [("utt_a", tmp_path / "x.flac"),
                                                               ("utt_b", tmp_path / "x.flac")]
