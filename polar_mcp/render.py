"""Text helpers every tool's rendering shares: one-line cells, compact JSON, and `key=value` metadata."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["cell", "compact", "metadata_text"]


def cell(text: str) -> str:
    """Collapse whitespace, so that every value stays on one line and tabs stay out of cells."""
    return " ".join(text.split())


def metadata_text(metadata: dict[str, Any]) -> str:
    """`plan=pro,seats=5`, half the bytes of JSON; compact JSON whenever that spelling could mislead."""
    texts = {key: value if isinstance(value, str) else compact(value) for key, value in metadata.items()}
    if all(_is_plain(key) and _is_plain(text) for key, text in texts.items()):
        return ",".join(f"{key}={text}" for key, text in texts.items())
    return compact(metadata)


def compact(value: Any) -> str:
    """JSON without spaces, non-ASCII kept as is (a token is cheaper than a `\\u` escape)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _is_plain(text: str) -> bool:
    return bool(text) and cell(text) == text and not any(mark in text for mark in ',="{}[]')
