"""SentencePiece tokenizer with the token layout CTC and attention decoders share.

Token ids: ``0 = <blank>`` (CTC blank, also padding), ``1 = <unk>``, ``2..V-2`` the
learned pieces, ``V-1 = <sos/eos>``. ``vocab_size`` (V) is the size of a model's output
layer. The SentencePiece model itself holds V-1 pieces (blank as its pad piece, no
bos/eos), so SentencePiece ids equal token ids and no remapping happens anywhere.

``model_type``: ``bpe`` / ``unigram`` (subwords, exactly ``vocab_size`` tokens), ``char``
(every character seen) or ``word`` (whitespace-separated words: the ``vocab_size - 3``
most frequent are kept, the rest encode to ``<unk>``). ``char`` and ``word`` may give
fewer tokens than asked when the text has fewer; the stage then says which size to set.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Iterable

import sentencepiece as spm

BLANK, UNK, SOS_EOS = "<blank>", "<unk>", "<sos/eos>"
MODEL_TYPES = ("bpe", "unigram", "char", "word")


class Tokenizer:
    """Text <-> token ids. Load with :meth:`from_dir` from a ``train_tokenizer`` output folder."""

    def __init__(self, model_file: str | Path):
        self.model_file = Path(model_file)
        if not self.model_file.is_file():
            raise FileNotFoundError(f"tokenizer model {self.model_file} does not exist; run the train_tokenizer stage")
        self.sp = spm.SentencePieceProcessor(model_file=str(self.model_file))
        self.token_list = [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())] + [SOS_EOS]

    @classmethod
    def from_dir(cls, save_path: str | Path) -> "Tokenizer":
        return cls(Path(save_path) / "tokenizer.model")

    @property
    def vocab_size(self) -> int:
        return len(self.token_list)

    blank_id = 0
    unk_id = 1

    @property
    def sos_eos_id(self) -> int:
        return self.vocab_size - 1

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text; blanks and ``<sos/eos>`` are dropped, ``<unk>`` stays visible."""
        keep = [int(i) for i in ids if 0 < int(i) < self.sos_eos_id]
        return self.sp.decode(keep)


def train_sentencepiece(texts: Iterable[str], save_path: str | Path, vocab_size: int,
                        model_type: str = "bpe", character_coverage: float = 1.0) -> Tokenizer:
    """Train on ``texts`` and write ``tokenizer.model``, ``tokenizer.vocab``, ``tokens.txt`` in ``save_path``."""
    if model_type not in MODEL_TYPES:
        raise ValueError(f"tokenizer.model_type {model_type!r} is not one of {MODEL_TYPES}")
    lines = [t.strip() for t in texts if t and t.strip()]
    if not lines:
        raise ValueError("no training text for the tokenizer: the train split yields no 'text'")
    save_path = Path(save_path)
    save_path.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size - 1,
            model_type=model_type, character_coverage=character_coverage,
            pad_id=0, pad_piece=BLANK, unk_id=1, unk_piece=UNK, bos_id=-1, eos_id=-1,
            hard_vocab_limit=model_type not in ("char", "word"), minloglevel=2, num_threads=1,
        )
    except RuntimeError as err:
        found = re.search(r"<= (\d+)", str(err))
        hint = f" set tokenizer.vocab_size <= {int(found.group(1)) + 1}" if found else " lower tokenizer.vocab_size"
        raise ValueError(f"sentencepiece could not make {vocab_size - 1} pieces from the training text "
                         f"({err}); the text is too small for this vocabulary:{hint}") from err
    tmp = save_path / "tokenizer.model.partial"
    tmp.write_bytes(model.getvalue())
    tmp.replace(save_path / "tokenizer.model")
    tokenizer = Tokenizer(save_path / "tokenizer.model")
    with open(save_path / "tokenizer.vocab", "w", encoding="utf-8") as f:
        for i in range(tokenizer.sp.get_piece_size()):
            f.write(f"{tokenizer.sp.id_to_piece(i)}\t{tokenizer.sp.get_score(i)}\n")
    (save_path / "tokens.txt").write_text("\n".join(tokenizer.token_list) + "\n", encoding="utf-8")
    return tokenizer
