"""`clean`, `clean_lines`, `clean_value`, `redact` and `relay`: what strangers wrote, made safe to read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from polar_mcp.sanitize import clean, clean_lines, clean_value, json_needs_cleaning, redact, relay

# Each row: a name for the case, the input, and exactly what must come out.
CLEAN = [
    ("plain ascii", "Ada Lovelace", "Ada Lovelace"),
    ("accents", "Zoë Åström-Ñúñez", "Zoë Åström-Ñúñez"),
    ("combining marks", "e\u0301 a\u0308 \u0928\u092e\u0938\u094d\u0924\u0947", "e\u0301 a\u0308 नमस्ते"),
    ("cjk and rtl letters", "山田 太郎 \u0645\u062d\u0645\u062f", "山田 太郎 \u0645\u062d\u0645\u062f"),
    ("emoji with skin tone and zwj", "👩🏽\u200d💻 🏳️\u200d🌈", "👩🏽\u200d💻 🏳️\u200d🌈"),
    ("keycap and variation selector", "1\ufe0f\u20e3 ❤\ufe0f", "1\ufe0f\u20e3 ❤\ufe0f"),
    ("emoji newer than this python", "\U0001fae8 shaking", "\U0001fae8 shaking"),
    (
        "zwnj inside persian",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647",
    ),
    ("escape sequences", "\x1b]0;owned\x07\x1b[2Jname", "]0;owned[2Jname"),
    ("nul and delete", "a\x00b\x7fc", "abc"),
    ("c1 controls", "a\x9bb\x85c", "ab c"),
    ("line breaks and tabs", "a\r\nb\tc\u2028d\u2029e\vf", "a  b c d e f"),
    ("bidi override", "invoice\u202egpj.exe", "invoicegpj.exe"),
    ("bidi isolates and marks", "\u2066a\u2069\u200fb\u200e", "ab"),
    ("zero-width space and bom", "ad\u200bmin\ufeff", "admin"),
    ("unicode tags", "hi\U000e0049\U000e0047\U000e004e\U000e007f", "hi"),
    ("unassigned tag-block code point", "a\U000e0002b", "ab"),
    ("private use", "a\ue000b\U000f0000c", "abc"),
    ("lone surrogate", "a\ud800b", "ab"),
    ("hangul fillers make blank names", "\u3164\u115f\uffa0", ""),
    ("noncharacters", "a\ufdd0\uffffb", "ab"),
    ("stray joiners", "\u200dab\u200d\u200dc\u200c", "ab\u200dc"),
    ("joiner between letter and space", "a\u200d b", "a b"),
    ("no-break space kept", "a\u00a0b", "a\u00a0b"),
    ("empty", "", ""),
]


@pytest.mark.parametrize(("name", "text", "expected"), CLEAN, ids=[row[0] for row in CLEAN])
def test_clean_keeps_what_people_read_and_drops_what_they_cannot_see(
    name: str, text: str, expected: str
) -> None:
    assert clean(text) == expected


def test_clean_lines_keeps_the_layout_of_rendered_text() -> None:
    assert clean_lines("a\tb\x1b[31m\nc\u202e\td") == "a\tb[31m\nc\td"


def test_clean_value_reaches_every_string_and_key_at_any_depth() -> None:
    deep: Any = "\x1bx"
    for _ in range(5000):  # deeper than Python's recursion limit
        deep = [deep]
    value = {"k\u200b": ["a\x00", {"n\u202e": "b\x07"}, 3, True, None], "deep": deep}
    cleaned = clean_value(value)
    assert cleaned["k"] == ["a", {"n": "b"}, 3, True, None]
    inner = cleaned["deep"]
    for _ in range(5000):
        inner = inner[0]
    assert inner == "x"
    assert value["k\u200b"][0] == "a\x00"  # the input is left alone


SECRET = "polar_oat_S3cr3t+Tok/en=Value"


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        SECRET.lower(),
        SECRET.upper(),
        "polar_oat_S3cr3t%2BTok%2Fen%3DValue",
        "polar_oat_s3cr3t%2btok%2fen%3dvalue",
        "polar_oat_S3cr3t%2BTok/en%3DValue",
    ],
)
def test_redact_finds_the_token_in_any_case_raw_or_percent_encoded(form: str) -> None:
    assert redact(f"before {form} after", SECRET) == "before [redacted] after"


def test_redact_without_a_token_changes_nothing() -> None:
    assert redact("text", None) == "text" and redact("text", "") == "text"


def test_relay_cleans_redacts_and_bounds() -> None:
    hidden = SECRET[:5] + "\u200b" + SECRET[5:]  # an invisible character must not hide the token
    text = relay(f"\x1b[2J{hidden}\n" + "y" * 100, SECRET, 30)
    assert text.startswith("[2J[redacted] yyy") and len(text) == 30 and text.endswith("…")


@pytest.mark.parametrize("ascii_only", [False, True], ids=["utf8", "escaped"])
@pytest.mark.parametrize(("name", "text", "expected"), CLEAN, ids=[row[0] for row in CLEAN])
def test_json_needs_cleaning_whenever_clean_would_change_a_string_or_key(
    name: str, text: str, expected: str, ascii_only: bool
) -> None:
    for document in ({"name": text, "n": [1, None]}, {text: 1}, [{"a": {"b": text}}]):
        raw = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
        if expected != text:
            assert json_needs_cleaning(raw), name


@pytest.mark.parametrize(
    "document",
    [
        b'{"name": "Ada Lovelace", "email": "ada@example.com", "metadata": {"plan": "pro"}}',
        '{"name": "Zoë 山田 \u0645\u062d\u0645\u062f 👩🏽", "n": 1.5}'.encode(),
        b'{"name": "Zo\\u00eb", "path": "a\\/b", "quote": "\\"x\\"", "backslash": "\\\\"}',
    ],
    ids=["ascii", "utf8", "harmless-escapes"],
)
def test_ordinary_json_needs_no_cleaning(document: bytes) -> None:
    assert clean_value(json.loads(document)) == json.loads(document)
    assert not json_needs_cleaning(document)


@pytest.mark.parametrize(
    "document",
    [
        b'{\n  "name": "Ada"\n}',  # pretty-printed: line breaks between tokens
        b'{"name": "a\\nb"}',
        b'{"name": "a\\u200bb"}',
        b'{"name": "a\\ud83d\\ude00"}',  # surrogate halves: decided the slow way
        b'{"name": "\xff"}',
    ],
    ids=["pretty", "newline-escape", "zero-width-escape", "surrogate-pair-escape", "not-utf8"],
)
def test_json_that_might_need_cleaning_takes_the_full_walk(document: bytes) -> None:
    assert json_needs_cleaning(document)
