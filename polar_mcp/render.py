"""The text the model reads: a summary line, compact rows, and the literal next call."""

from __future__ import annotations

import json
from typing import Any

from polar_mcp.query import ResponseFormat

__all__ = ["CONCISE_COLUMNS", "render_page"]

CONCISE_COLUMNS = ("name", "email", "external_id", "type", "country", "created_at", "id", "metadata")


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
            lines.append(" | ".join(CONCISE_COLUMNS) + "   (- = empty)")
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
            cells.append("-")
        elif isinstance(value, dict):
            cells.append(_compact(value))
        else:
            cells.append(_cell(str(value)))
    return " | ".join(cells)


def _cell(text: str) -> str:
    # A value must not break the row: keep it on one line and escape the column separator.
    text = " ".join(text.split())
    return text.replace("|", "\\|") if text else "-"


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
