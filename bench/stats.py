"""Small numeric helpers shared by the benchmarks: timing summaries and token counts."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from functools import cache
from typing import Any

import quicktok

__all__ = ["ENCODING", "count_tokens", "json_tokens", "median_ms", "p95_ms", "utf8_len"]

ENCODING = "o200k_base"
"""The vocabulary tokens are counted in (GPT-4o's; `quicktok` ships it in its wheel, so no download)."""


@cache
def _encoding() -> quicktok.Tokenizer:
    return quicktok.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    """Tokens of `text` in `ENCODING`, special-token strings counted as plain text."""
    return int(_encoding().count(text))


def json_tokens(value: Any) -> int:
    """Tokens of `value` as JSON with the usual `, ` and `: ` separators, the way clients print it."""
    return count_tokens(json.dumps(value, ensure_ascii=False))


def utf8_len(text: str) -> int:
    """Bytes of `text` as UTF-8: what travels."""
    return len(text.encode("utf-8"))


def median_ms(seconds: Sequence[float]) -> float:
    """Median of durations in seconds, as milliseconds."""
    return statistics.median(seconds) * 1000


def p95_ms(seconds: Sequence[float]) -> float:
    """95th percentile (nearest rank) of durations in seconds, as milliseconds."""
    ordered = sorted(seconds)
    rank = max(1, math.ceil(0.95 * len(ordered)))
    return ordered[rank - 1] * 1000
