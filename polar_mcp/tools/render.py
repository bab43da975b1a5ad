"""Text helpers every tool's rendering shares: one-line cells, compact JSON, and `key=value` metadata."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["cell", "compact", "metadata_text", "without_nulls"]

# A metadata key or value that reads unambiguously after `key=` and before `,`: single spaces between
# words, and none of the marks that would look like structure.
_PLAIN = r'[^\s,="{}\[\]]+(?: [^\s,="{}\[\]]+)*'
_PLAIN_PAIRS = re.compile(f"{_PLAIN}={_PLAIN}(?:,{_PLAIN}={_PLAIN})*")


def cell(text: str) -> str:
    """Collapse whitespace, so that every value stays on one line and tabs stay out of cells."""
    return " ".join(text.split())


def metadata_text(metadata: dict[str, Any]) -> str:
    """`plan=pro,seats=5`, half the bytes of JSON; compact JSON whenever that spelling could mislead."""
    if not metadata:
        return ""
    text = ",".join(
        [
            f"{key}={value}" if type(value) is str else f"{key}={_scalar(value)}"
            for key, value in metadata.items()
        ]
    )
    # Keys and values hold no `,` or `=`, so the text splits back into exactly these pairs.
    return text if _PLAIN_PAIRS.fullmatch(text) else compact(metadata)


def compact(value: Any) -> str:
    """JSON without spaces, non-ASCII kept as is (a token is cheaper than a `\\u` escape)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _scalar(value: Any) -> str:
    # What `compact` gives, without the encoder's cost for the common cases.
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    return compact(value)


def without_nulls(value: Any) -> Any:
    """Drop null fields at every depth (objects inside objects and lists); list items stay as they are."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value
