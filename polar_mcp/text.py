"""Cleaning of text that strangers wrote (names, emails, metadata) before a model or a terminal reads it."""

from __future__ import annotations

import unicodedata
from typing import Any

__all__ = ["clean", "clean_value"]

# Kept although they are format characters: they join emoji sequences and Indic scripts correctly.
_KEPT_FORMAT = {"\u200c", "\u200d"}


def clean(text: str) -> str:
    """Drop control characters (ESC, BEL, NUL, CR, ...), invisible format characters (zero-width spaces,
    bidirectional overrides, Unicode tags) and unassigned or private-use code points; keep letters,
    combining marks, emoji and their joiners. Line breaks and tabs become spaces."""
    out: list[str] = []
    for char in text:
        if char in "\t\n\r\v\f":
            out.append(" ")
            continue
        category = unicodedata.category(char)
        if category in ("Cc", "Cs", "Co", "Cn") or (category == "Cf" and char not in _KEPT_FORMAT):
            continue
        out.append(char)
    return "".join(out)


def clean_value(value: Any) -> Any:
    """`clean` applied to every string in a JSON-like value, keys included."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(str(key)): clean_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clean_value(item) for item in value]
    return value
