"""Text normalisation applied to both reference and hypothesis before scoring."""

from __future__ import annotations

import string
import unicodedata

_PUNCTUATION = str.maketrans("", "", string.punctuation.replace("'", "").replace("<", "").replace(">", ""))
_TYPOGRAPHIC = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"'})


class TextNormalizer:
    """Explicit, documented normalisation (metrics.yaml sets every option).

    Both texts are first put in Unicode NFKC form with typographic apostrophes and quotes made
    ASCII, so ``café`` typed two ways, or ``don’t`` against a tokenizer's ``don't``, is one word.

    Args:
        case: ``fold`` case-folds (sclite's default; ``STRASSE`` = ``straße``), ``sensitive`` keeps case.
        remove_punctuation: drop ASCII punctuation except apostrophes and ``<...>`` tags.
        collapse_whitespace: split on any whitespace and rejoin with single spaces.
    """

    def __init__(self, case: str = "fold", remove_punctuation: bool = False, collapse_whitespace: bool = True):
        if case not in ("fold", "sensitive"):
            raise ValueError(f"case must be 'fold' or 'sensitive', got {case!r}")
        self.case, self.remove_punctuation, self.collapse_whitespace = case, remove_punctuation, collapse_whitespace

    def __call__(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHIC)
        if self.case == "fold":
            text = text.casefold()
        if self.remove_punctuation:
            text = text.translate(_PUNCTUATION)
        if self.collapse_whitespace:
            text = " ".join(text.split())
        return text
