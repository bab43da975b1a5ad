"""Small numeric helpers shared by the benchmarks: timing summaries and the token estimate."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

__all__ = ["BYTES_PER_TOKEN", "estimate_tokens", "median_ms", "p95_ms", "utf8_len"]

BYTES_PER_TOKEN = 4
"""Token estimate: one token per 4 bytes of UTF-8, the usual rule of thumb for English and JSON.

A real tokenizer would need its vocabulary downloaded at run time, which the benchmarks avoid. The
rule undercounts scripts like CJK a little (3 bytes a character, often 1-2 tokens each), but it is
applied the same way to every side of every comparison, so the ratios hold.
"""


def utf8_len(text: str) -> int:
    """Bytes of `text` as UTF-8: what travels and, by the estimate below, what the model pays for."""
    return len(text.encode("utf-8"))


def estimate_tokens(size_bytes: int) -> int:
    """Estimated model tokens for `size_bytes` of UTF-8 text (see `BYTES_PER_TOKEN`)."""
    return math.ceil(size_bytes / BYTES_PER_TOKEN)


def median_ms(seconds: Sequence[float]) -> float:
    """Median of durations in seconds, as milliseconds."""
    return statistics.median(seconds) * 1000


def p95_ms(seconds: Sequence[float]) -> float:
    """95th percentile (nearest rank) of durations in seconds, as milliseconds."""
    ordered = sorted(seconds)
    rank = max(1, math.ceil(0.95 * len(ordered)))
    return ordered[rank - 1] * 1000
