"""Tokenizer: the shared token layout and clear errors on impossible vocabularies."""

import random

import pytest

from vocalis.data.tokenizer import train_sentencepiece

WORDS = "zero one two three four five six seven eight nine oh".split()


def corpus(n=200, seed=0):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8))) for _ in range(n)]


@pytest.mark.parametrize("model_type,vocab", [("bpe", 30), ("unigram", 25)])
def test_layout_and_round_trip(tmp_path, model_type, vocab):
    tok = train_sentencepiece(corpus(), tmp_path, vocab, model_type)
    assert tok.vocab_size == vocab
    assert tok.token_list[:2] == ["<blank>", "<unk>"] and tok.token_list[-1] == "<sos/eos>"
    assert (tmp_path / "tokens.txt").read_text().split("\n")[:-1] == tok.token_list
    for text in corpus(20, seed=1):
        ids = tok.encode(text)
        assert all(0 < i < tok.sos_eos_id for i in ids)
        assert tok.decode(ids) == text
    # blanks and <sos/eos> never reach the text
    assert tok.decode([0] + tok.encode("one two") + [tok.sos_eos_id, 0]) == "one two"


def test_too_large_vocabulary_says_what_fits(tmp_path):
    with pytest.raises(ValueError, match=r"set tokenizer.vocab_size <= \d+"):
        train_sentencepiece(corpus(), tmp_path, 500, "bpe")


def test_no_text_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no training text"):
        train_sentencepiece(["", "  "], tmp_path, 30)


def test_word_tokenizer_keeps_the_frequent_words_and_the_shared_layout(tmp_path):
    texts = ["one two three"] * 5 + ["one two"] * 3 + ["one four"] + ["supercalifragilisticexpialidocious one"] * 2
    tok = train_sentencepiece(texts, tmp_path, 6, "word")  # room for 3 words
    assert tok.token_list == ["<blank>", "<unk>", "▁one", "▁two", "▁three", "<sos/eos>"]
    assert (tmp_path / "tokens.txt").read_text().split("\n")[:-1] == tok.token_list
    assert (tmp_path / "tokenizer.model").is_file()
    assert tok.encode("one two three") == [2, 3, 4]
    assert tok.encode("four one") == [tok.unk_id, 2], "rare and unseen words are <unk>"
    assert tok.decode([0, 2, 3, tok.sos_eos_id]) == "one two"
    big = train_sentencepiece(texts, tmp_path / "big", 100, "word")
    assert "▁supercalifragilisticexpialidocious" in big.token_list and big.vocab_size == 8
