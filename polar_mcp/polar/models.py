"""Lenient models of Polar's answers (customer page, customer state, product page), and the compact
customer record made from one.

Polar adds customer fields and types every month or two; nothing here may fail a page because
of a field it does not know, a null where a value used to be, or a new `type`.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, InstanceOf, ValidationError

from polar_mcp.errors import InvalidResponse

__all__ = [
    "ApiCustomerPage",
    "ApiProductPage",
    "parse_customer_state",
    "parse_page",
    "parse_products",
    "summarize",
    "to_date",
]

_Model = TypeVar("_Model", bound=BaseModel)
_EMPTY: tuple[Any, ...] = (None, "", {}, [])
_SUMMARY_KEYS = ("id", "name", "email", "external_id", "type")
_UTC_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\d)T[\d:.]+(?:Z|\+00:00)$")


class Pagination(BaseModel):
    """Totals of a page as Polar sends them."""

    model_config = ConfigDict(extra="allow")

    total_count: int
    max_page: int


class ApiCustomerPage(BaseModel):
    """`GET /v1/customers/` body; items stay raw dicts so unknown fields and types pass through untouched.
    They are checked to be objects, not copied: a copy of every customer cost more than the JSON parse."""

    model_config = ConfigDict(extra="allow")

    items: list[InstanceOf[dict[str, Any]]]
    pagination: Pagination


class ApiProductPage(BaseModel):
    """`GET /v1/products/` body; only each item's `id` and `name` matter here."""

    model_config = ConfigDict(extra="allow")

    items: list[InstanceOf[dict[str, Any]]]
    pagination: Pagination


class ApiCustomerState(BaseModel):
    """The envelope of `GET /v1/customers/{id}/state`: a customer plus three lists, each possibly absent."""

    model_config = ConfigDict(extra="allow")

    id: str
    active_subscriptions: list[dict[str, Any]] = []
    granted_benefits: list[dict[str, Any]] = []
    active_meters: list[dict[str, Any]] = []


def parse_page(payload: Any) -> ApiCustomerPage:
    """Validate the envelope only; raise `InvalidResponse` when it is not a customer page at all."""
    return _envelope(ApiCustomerPage, payload, "a customer page")


def parse_products(payload: Any) -> ApiProductPage:
    """Validate a product page's envelope; raise `InvalidResponse` when it is not one."""
    return _envelope(ApiProductPage, payload, "a product page")


def parse_customer_state(payload: Any) -> dict[str, Any]:
    """Check the state's envelope and return it as a dict with the three lists present (null becomes [])."""
    present = {key: value for key, value in _as_dict(payload).items() if value is not None}
    return _envelope(ApiCustomerState, present, "a customer state").model_dump()


def _as_dict(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise InvalidResponse(f"the JSON is a {type(payload).__name__}, not an object")
    return payload


def _envelope(model: type[_Model], payload: Any, what: str) -> _Model:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors(include_url=False)[:3]
        )
        raise InvalidResponse(f"the JSON is not {what} ({problems})") from None


def summarize(item: dict[str, Any]) -> dict[str, Any]:
    """The concise record: named fields only, with nulls and empty values left out."""
    record: dict[str, Any] = {}
    # Strings, nearly every value, are tested for emptiness alone: a test against every empty kind
    # cost more than the rest of the record.
    for key in _SUMMARY_KEYS:
        value = item.get(key)
        if value if type(value) is str else value not in _EMPTY:
            record[key] = value
    created = to_date(item.get("created_at"))
    if created not in _EMPTY:
        record["created_at"] = created
    address = item.get("billing_address")
    if isinstance(address, dict):
        country = address.get("country")
        if country if type(country) is str else country not in _EMPTY:
            record["country"] = country
    metadata = item.get("metadata")
    if isinstance(metadata, dict) and metadata:
        record["metadata"] = metadata
    return record


def to_date(timestamp: Any) -> Any:
    """`2024-08-27T14:52:02.145620Z` becomes `2024-08-27`, the UTC day, which is what "who signed up
    last week" needs; 17 bytes a row saved, and the detailed format keeps the full timestamp."""
    if isinstance(timestamp, str) and (match := _UTC_TIMESTAMP.match(timestamp)):
        return match.group(1)
    return timestamp
