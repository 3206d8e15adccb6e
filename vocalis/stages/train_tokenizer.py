"""Stage train_tokenizer: sentencepiece on the training transcripts."""

from __future__ import annotations

import logging
from pathlib import Path

from vocalis.data.organizer import DataOrganizer
from vocalis.data.tokenizer import train_sentencepiece
from vocalis.stages.context import RunContext
from vocalis.stages.markers import DoneMarker, fingerprint

log = logging.getLogger(__name__)


def run(ctx: RunContext) -> None:
    cfg = ctx.config("training", "train_tokenizer")
    tok = cfg.tokenizer
    save_path = Path(tok.save_path)
    train = DataOrganizer(cfg.dataset, ctx.recipe_dir).split("train")
    texts = [train.get_text(i) for i in range(len(train))]
    fp = fingerprint(tok.model_type, tok.vocab_size, tok.character_coverage, texts)
    marker = DoneMarker(save_path, "train_tokenizer")
    if marker.matches(fp) and (save_path / "tokenizer.model").is_file():
        log.info("tokenizer in %s is up to date, skipping", save_path)
        return
    save_path.mkdir(parents=True, exist_ok=True)
    (save_path / "train.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    tokenizer = train_sentencepiece(texts, save_path, tok.vocab_size, tok.model_type, tok.character_coverage)
    if tokenizer.vocab_size != tok.vocab_size:
        log.warning("tokenizer has %d tokens, not tokenizer.vocab_size=%d (%s vocabularies come from the text); "
                    "set tokenizer.vocab_size: %d", tokenizer.vocab_size, tok.vocab_size, tok.model_type,
                    tokenizer.vocab_size)
    log.info("trained %s tokenizer with %d tokens on %d transcripts -> %s", tok.model_type,
             tokenizer.vocab_size, len(texts), save_path)
    marker.write(fp, vocab_size=tokenizer.vocab_size)
