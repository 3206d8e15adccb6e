"""Vocalis: a recipe-first speech toolkit."""

__version__ = "0.1.0"
