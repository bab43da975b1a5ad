"""Cleaning of text that strangers wrote (names, emails, metadata, Polar's own messages) before a model or a
terminal reads it, and redaction of the access token from anything relayed."""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import Any
from urllib.parse import unquote_plus

__all__ = [
    "MIN_SECRET_CHARS",
    "REDACTED",
    "clean",
    "clean_lines",
    "clean_value",
    "json_needs_cleaning",
    "mentions",
    "redact",
    "redact_value",
    "relay",
]

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 8
"""A secret shorter than this (no real token is) is not looked for in data: it would match ordinary words."""

# Kept although they are format characters: they join emoji sequences and Indic and Arabic scripts.
_JOINERS = frozenset({"\u200c", "\u200d"})
# Line breaks of every kind become a space, so a value cannot start a line of its own.
_BREAKS = frozenset("\t\n\r\v\f\x1c\x1d\x1e\x1f\x85\u2028\u2029")
# Characters that render as nothing though their category says otherwise: Hangul fillers make "blank"
# names; the combining grapheme joiner, the Khmer inherent vowels and the blank braille pattern too.
_INVISIBLE_LETTERS = frozenset(
    {"\u115f", "\u1160", "\u3164", "\uffa0", "\u034f", "\u17b4", "\u17b5", "\u2800"}
)
# Variation selectors mean something only right after an emoji (or a CJK ideograph, for the
# supplement); anywhere else a run of them can carry a hidden text.
_VARIATION_SELECTORS = "\ufe00-\ufe0f\U000e0100-\U000e01ef"
MAX_MARKS = 4
"""Combining marks kept on one character: real scripts stack a few, stacked dozens hide the text."""
# What `clean` might change in text that is otherwise printable: the fast path's check. The run of
# marks covers the blocks used to stack them (Latin, Cyrillic, Hebrew, Arabic, Indic, Thai, symbols).
_SUSPECT = re.compile(
    "[" + "".join(sorted(_INVISIBLE_LETTERS)) + _VARIATION_SELECTORS + "]"
    "|[\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
    "\u0900-\u0903\u093a-\u094f\u0e31-\u0e3a\u0e47-\u0e4e\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff"
    f"\ufe20-\ufe2f]{{{MAX_MARKS + 1},}}"
)
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
    if not _needs_work(text):
        return text  # the common case, decided in C: nothing to drop or replace
    out: list[str] = []
    marks = 0  # combining marks kept on the last character
    for index, char in enumerate(text):
        if char in _BREAKS:
            out.append(" ")
        elif char in _JOINERS:
            following = text[index + 1 : index + 2]
            if out and _joinable(out[-1]) and following and _joinable(following):
                out.append(char)
        elif _is_variation_selector(char):
            if out and _takes_variation_selector(out[-1], char):
                out.append(char)
        elif not _dropped(char):
            if unicodedata.category(char) in ("Mn", "Me"):
                marks += 1
                if marks > MAX_MARKS:
                    continue
            else:
                marks = 0
            out.append(char)
    return "".join(out)


def _needs_work(text: str) -> bool:
    return not text.isprintable() or _SUSPECT.search(text) is not None


def _is_variation_selector(char: str) -> bool:
    code = ord(char)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def _takes_variation_selector(base: str, selector: str) -> bool:
    """Whether `selector` may follow `base`: one selector, after an emoji or keycap base (symbols,
    digits, # and *) or, for the supplement's selectors, after a CJK ideograph."""
    if _is_variation_selector(base):
        return False
    if ord(selector) >= 0xE0100:
        return unicodedata.category(base) == "Lo" and 0x3400 <= ord(base) <= 0x3FFFF
    return unicodedata.category(base) in ("So", "Sm", "Sk", "Po", "Nd", "Cn") or base in "#*"


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
    if _needs_work(rest):
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
    """Replace `secret` in `text` in any letter case, raw or percent-encoded, wholly or in part (a proxy
    or a server may echo it any of these ways); the one place every relayed or logged text is made safe."""
    if not secret or not mentions(text, secret):
        return text
    return _secret_pattern(secret).sub(REDACTED, text)


def mentions(text: str, secret: str) -> bool:
    """Whether `text` holds `secret`, compared case-insensitively, also after percent-decoding."""
    lowered, wanted = text.lower(), secret.lower()
    return wanted in lowered or ("%" in text and wanted in unquote_plus(lowered))


def redact_value(value: Any, secret: str | None) -> Any:
    """`redact` applied to every string (and key) of a JSON-like value."""
    if not secret:
        return value
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, list):
        return [redact_value(item, secret) for item in value]
    if isinstance(value, dict):
        return {redact(str(key), secret): redact_value(item, secret) for key, item in value.items()}
    return value


@functools.lru_cache(maxsize=8)
def _secret_pattern(secret: str) -> re.Pattern[str]:
    # Each character as itself or percent-encoded (a space also as `+`), so any mix of forms matches.
    parts = []
    for char in secret:
        encoded = "".join(f"%{byte:02x}" for byte in char.encode())
        options = [re.escape(char), re.escape(encoded)] + (["\\+"] if char == " " else [])
        parts.append("(?:" + "|".join(options) + ")")
    return re.compile("".join(parts), re.IGNORECASE)


def relay(text: str, secret: str | None, limit: int) -> str:
    """Upstream text fit to quote in an error: cleaned, the token redacted, at most `limit` characters."""
    safe = " ".join(clean(redact(text, secret)).split())
    # Redact again after cleaning: an invisible character inside the token would otherwise hide it.
    safe = redact(safe, secret)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"
