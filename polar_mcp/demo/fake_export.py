"""The fake Polar's `GET /v1/customers/export`: every visible customer as one CSV, as Polar's code writes it.

Polar writes the export with Python's `csv` module (`excel` dialect: commas, `"` quoting when needed,
CRLF line ends), `created_at` from `datetime.isoformat()`, metadata as `json.dumps` text, and the tax
ID as the text of a Python tuple. Only the repeated `organization_id` parameter is defined.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

__all__ = ["EXPORT_HEADER", "EXPORT_PATH", "export_csv", "export_response", "export_rows"]

EXPORT_PATH = "/v1/customers/export"
EXPORT_HEADER = (
    "ID",
    "External ID",
    "Created At",
    "Email",
    "Name",
    "Tax ID",
    "Billing Address Line 1",
    "Billing Address Line 2",
    "Billing Address City",
    "Billing Address State",
    "Billing Address Zip",
    "Billing Address Country",
    "Metadata",
)


def export_rows(customers: Iterable[dict[str, Any]]) -> Iterator[tuple[Any, ...]]:
    """One CSV row per customer, each value as Polar's export code passes it to the writer."""
    for customer in customers:
        address = customer.get("billing_address") or {}
        yield (
            customer["id"],
            customer.get("external_id"),
            _created_at(customer["created_at"]),
            customer.get("email"),
            customer.get("name"),
            _tax_id(customer.get("tax_id")),
            address.get("line1"),
            address.get("line2"),
            address.get("city"),
            address.get("state"),
            address.get("postal_code"),
            address.get("country"),
            json.dumps(customer["metadata"]) if customer.get("metadata") else None,
        )


def export_csv(customers: Iterable[dict[str, Any]]) -> bytes:
    """The export body: a header row, then one row per customer, UTF-8, CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, dialect="excel")
    writer.writerow(EXPORT_HEADER)
    writer.writerows(export_rows(customers))
    return buffer.getvalue().encode()


def export_response(
    visible: Sequence[dict[str, Any]],
    params: httpx.QueryParams,
    *,
    strict: bool,
    error: Callable[[int, dict[str, Any]], httpx.Response],
) -> httpx.Response:
    """Answer an authenticated export request over the customers the token may see."""
    problems: list[dict[str, Any]] = []
    for name in params:
        if name != "organization_id" and strict:
            return error(400, {"detail": f"fake Polar: unexpected query parameter {name!r}"})
    org_ids = params.get_list("organization_id")
    for index, org in enumerate(org_ids):
        if not _is_uuid(org):
            problems.append(
                {
                    "loc": ["query", "organization_id", index],
                    "msg": "Input should be a valid UUID",
                    "type": "uuid_parsing",
                    "input": org,
                }
            )
    if problems:
        return error(422, {"error": "RequestValidationError", "detail": problems})
    if org_ids:
        wanted = {org.lower() for org in org_ids}
        visible = [c for c in visible if c["organization_id"].lower() in wanted]
    # The export has no defined order; by ID is as good as any, and not the order of creation.
    visible = sorted(visible, key=lambda c: c["id"])
    return httpx.Response(
        200,
        content=export_csv(visible),
        headers={
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": 'attachment; filename="polar-customers.csv"',
        },
    )


def _created_at(value: str) -> str:
    # The API spells UTC as Z; the export is the database value's isoformat(): +00:00, no zero fraction.
    if value.endswith(".000000Z"):
        return value[:-8] + "+00:00"
    if value.endswith("Z") and len(value) == 27:  # 2024-08-27T14:52:02.145620Z, as the sample writes
        return value[:-1] + "+00:00"
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).isoformat()


def _tax_id(value: Any) -> str | None:
    if not value:
        return None
    number, kind = value
    return f"({number!r}, <TaxIDFormat.{kind}: {kind!r}>)"


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
