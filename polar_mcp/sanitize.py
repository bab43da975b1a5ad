"""Cleaning of text that strangers wrote (names, emails, metadata, Polar's own messages) before a model or a
terminal reads it, and redaction of the access token from anything relayed."""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["REDACTED", "clean", "clean_lines", "clean_value", "json_needs_cleaning", "redact", "relay"]

REDACTED = "[redacted]"

# Kept although they are format characters: they join emoji sequences and Indic and Arabic scripts.
_JOINERS = frozenset({"\u200c", "\u200d"})
# Line breaks of every kind become a space, so a value cannot start a line of its own.
_BREAKS = frozenset("\t\n\r\v\f\x1c\x1d\x1e\x1f\x85\u2028\u2029")
# Letters by category that render as nothing: Hangul fillers make "blank" names.
_INVISIBLE_LETTERS = frozenset({"\u115f", "\u1160", "\u3164", "\uffa0"})
# Unassigned code points are kept (emoji newer than this Python's Unicode tables are unassigned here),
# except in the tag block, whose members hide text from readers, and the noncharacters.
_TAGS = range(0xE0000, 0xE0080)
# JSON escapes that can put a character into a string that the document's own text does not show.
_ESCAPES = re.compile(rb"\\(?:[bfnrt]|u([0-9a-fA-F]{4}))")
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def _dropped(char: str) -> bool:
    category = unicodedata.category(char)
    if category in ("Cc", "Cs", "Co", "Cf"):
        return True
    if category == "Cn":
        code = ord(char)
        return code in _TAGS or 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE
    return char in _INVISIBLE_LETTERS


def _joinable(char: str) -> bool:
    return unicodedata.category(char)[0] in "LMSN" or unicodedata.category(char) == "Cn"


def clean(text: str) -> str:
    """Drop control characters (ESC, BEL, NUL, ...), invisible format characters (zero-width spaces,
    bidirectional overrides and isolates, Unicode tags), private-use and surrogate code points; turn every
    line break and tab into a space. Letters, combining marks, emoji and their variation selectors stay;
    a zero-width joiner or non-joiner stays only between two visible characters."""
    if text.isprintable() and not any(letter in text for letter in _INVISIBLE_LETTERS):
        return text  # the common case, decided in C: nothing to drop or replace
    out: list[str] = []
    for index, char in enumerate(text):
        if char in _BREAKS:
            out.append(" ")
        elif char in _JOINERS:
            following = text[index + 1 : index + 2]
            if out and _joinable(out[-1]) and following and _joinable(following):
                out.append(char)
        elif not _dropped(char):
            out.append(char)
    return "".join(out)


def clean_lines(text: str) -> str:
    """`clean` for a terminal: each line cleaned on its own, the line breaks and tabs between cells kept."""
    return "\n".join("\t".join(clean(part) for part in line.split("\t")) for line in text.split("\n"))


def clean_value(value: Any) -> Any:
    """`clean` applied to every string in a JSON-like value, keys included; iterative, so depth is no risk."""
    if isinstance(value, str):
        return clean(value)
    if not isinstance(value, (dict, list)):
        return value
    root: list[Any] = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        item = parent[key]
        if isinstance(item, str):
            parent[key] = clean(item)
        elif isinstance(item, list):
            copied = list(item)
            parent[key] = copied
            stack.extend((copied, index) for index in range(len(copied)))
        elif isinstance(item, dict):
            copied_dict = {clean(str(name)): member for name, member in item.items()}
            parent[key] = copied_dict
            stack.extend((copied_dict, name) for name in copied_dict)
    return root[0]


def json_needs_cleaning(document: bytes) -> bool:
    """Whether `clean` could change any string (or key) of `document`, a JSON text that parsed; False only
    when it certainly would not. Decided in C but for a few non-ASCII characters, so that a page of
    ordinary text skips `clean_value`, whose walk costs several times the JSON parse.

    Printable ASCII is harmless; what remains once it is taken out (raw line breaks and tabs too, which
    only pretty-printed JSON has between tokens) must be printable text without invisible letters, and no
    escape may decode to a character that `clean` would touch."""
    try:
        rest = document.translate(None, _PRINTABLE_ASCII).decode("utf-8")
    except UnicodeDecodeError:
        return True
    if not rest.isprintable() or any(letter in rest for letter in _INVISIBLE_LETTERS):
        return True
    if b"\\" not in document:
        return False
    for escape in _ESCAPES.finditer(document):
        code = escape.group(1)
        if code is None:
            return True  # \b \f \n \r \t
        char = chr(int(code, 16))
        if clean(char) != char:
            return True
    return False


def redact(text: str, secret: str | None) -> str:
    """Replace `secret` in `text` in any letter case, raw or percent-encoded (a proxy or a server may echo
    it either way); the one place every relayed or logged text is made safe."""
    if not secret:
        return text
    forms = {secret, quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)}
    pattern = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
    return re.sub(pattern, REDACTED, text, flags=re.IGNORECASE)


def relay(text: str, secret: str | None, limit: int) -> str:
    """Upstream text fit to quote in an error: cleaned, the token redacted, at most `limit` characters."""
    safe = " ".join(clean(redact(text, secret)).split())
    # Redact again after cleaning: an invisible character inside the token would otherwise hide it.
    safe = redact(safe, secret)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"
