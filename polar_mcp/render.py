"""The text the model reads: a summary line, compact rows, and the literal next call."""

from __future__ import annotations

import json
from typing import Any

from polar_mcp.query import ResponseFormat

__all__ = ["CONCISE_COLUMNS", "render_page"]

CONCISE_COLUMNS = ("name", "email", "external_id", "type", "country", "created_at", "id", "metadata")
# Rows carry no header: the tool description, which the model always has, names the columns.
# A header line would cost 6% of a 10-row page. Individuals, the common case, leave type blank.
TYPE_ABBREVIATIONS = {"individual": ""}
SEPARATOR = "\t"
CONCISE_LEGEND = (
    "Concise rows are tab-separated: name, email, external_id, type (blank = individual), country, "
    "created_at (UTC date), id, metadata (key=value,...); an empty cell means no value."
)


def render_page(page: dict[str, Any], response_format: ResponseFormat, filters: dict[str, Any]) -> str:
    """Render a structured page (a `CustomerPage` as a dict) so the text alone carries all of it."""
    customers: list[dict[str, Any]] = page["customers"]
    lines = [_summary(page, len(customers))]
    if page.get("notice"):
        lines.insert(0, page["notice"])
    if filters:
        lines.append("Filters: " + _compact(filters))
    if customers:
        if response_format == "concise":
            lines.extend(_row(customer) for customer in customers)
        else:
            lines.append("One JSON object per customer, every field Polar returned (null fields omitted):")
            lines.extend(_compact({k: v for k, v in c.items() if v is not None}) for c in customers)
    if page["next_page"] is not None:
        lines.append(f"next: list_customers with page={page['next_page']} and the same filters")
    return "\n".join(lines)


def _summary(page: dict[str, Any], shown: int) -> str:
    total, number, last = page["total_count"], page["page"], page["max_page"]
    if total == 0:
        return "No customers match."
    if shown == 0:
        return f"No customers on page {number}: {total} match, on pages 1 to {last} of {page['limit']}."
    first = (number - 1) * page["limit"] + 1
    return f"Customers {first}-{first + shown - 1} of {total} (page {number} of {last})."


def _row(record: dict[str, Any]) -> str:
    cells = []
    for column in CONCISE_COLUMNS:
        value = record.get(column)
        if value is None:
            cells.append("")
        elif isinstance(value, dict):
            cells.append(_metadata(value))
        elif column == "type":
            cells.append(TYPE_ABBREVIATIONS.get(value, _cell(str(value))))
        else:
            cells.append(_cell(str(value)))
    return SEPARATOR.join(cells).rstrip(SEPARATOR)


def _cell(text: str) -> str:
    # Collapsing whitespace keeps every value on one line and tabs out of cells.
    return " ".join(text.split())


def _metadata(metadata: dict[str, Any]) -> str:
    """`plan=pro,seats=5`, half the bytes of JSON; compact JSON whenever that spelling could mislead."""
    texts = {key: value if isinstance(value, str) else _compact(value) for key, value in metadata.items()}
    if all(_is_plain(key) and _is_plain(text) for key, text in texts.items()):
        return ",".join(f"{key}={text}" for key, text in texts.items())
    return _compact(metadata)


def _is_plain(text: str) -> bool:
    return bool(text) and _cell(text) == text and not any(mark in text for mark in ',="{}[]')


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
