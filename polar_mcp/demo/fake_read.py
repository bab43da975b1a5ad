"""The fake Polar's read endpoints: one customer, its state, and the product list.

`FakePolar` (in `fake.py`) authenticates, injects faults and rate limits, then hands these paths
here. They answer as Polar does: a customer by ID or by external ID (a percent-encoded path segment),
`404 ResourceNotFound` for an unknown or foreign customer, `422` for an ID that is not a version-4
UUID, and the product list only for tokens with a products scope.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from polar_mcp.demo.billing import STATE_STATUSES, Holdings, holdings_of

__all__ = ["CUSTOMER_SCOPES", "PRODUCT_SCOPES", "ReadData", "Route", "not_found", "route_read"]

CUSTOMER_SCOPES = frozenset({"customers:read", "customers:write"})
PRODUCT_SCOPES = frozenset({"products:read", "products:write"})
PRODUCT_PARAMETERS = {"id", "organization_id", "page", "limit"}
# Documented by Polar but not implemented here: strict mode refuses them rather than ignore them.
PRODUCT_UNIMPLEMENTED = {"query", "is_archived", "is_recurring", "benefit_id", "visibility", "sorting"}

Answer = tuple[int, dict[str, Any]]
"""A status and a JSON body; `FakePolar` turns it into a response."""


@dataclass(frozen=True)
class Route:
    """A matched read path: the scopes it needs and what answers it for one organization."""

    scopes: frozenset[str]
    answer: Callable[[ReadData, str, list[tuple[str, str]], bool], Answer]


class ReadData(Protocol):
    """What the read endpoints serve: customers, their billing, and the product catalogue."""

    customers: list[dict[str, Any]]
    holdings: dict[str, Holdings]
    products: list[dict[str, Any]]


def not_found() -> Answer:
    """Polar's body for a lookup that found nothing (a wrong path gets `{"detail": "Not Found"}`)."""
    return 404, {"error": "ResourceNotFound", "detail": "Not found"}


def route_read(raw_path: str) -> Route | None:
    """Match a raw (still percent-encoded) path to a read endpoint; `None` when it is not one."""
    if raw_path == "/v1/products/":
        return Route(PRODUCT_SCOPES, _products)
    parts = raw_path.split("/")
    if parts[:3] != ["", "v1", "customers"] or len(parts) < 4:
        return None
    rest = parts[3:]
    state = rest[-1] == "state" and len(rest) in (2, 3)
    if state:
        rest = rest[:-1]
    if len(rest) == 2 and rest[0] == "external" and rest[1]:
        external_id = unquote(rest[1])
        return Route(CUSTOMER_SCOPES, _by_external_id(external_id, state=state))
    if len(rest) == 1 and rest[0] not in ("", "external", "export"):
        return Route(CUSTOMER_SCOPES, _by_id(unquote(rest[0]), state=state))
    return None


def _by_id(
    customer_id: str, *, state: bool
) -> Callable[[ReadData, str, list[tuple[str, str]], bool], Answer]:
    def answer(data: ReadData, organization_id: str, params: list[tuple[str, str]], strict: bool) -> Answer:
        if strict and params:
            return _unexpected(params[0][0])
        problem = _uuid4_problem(customer_id, ["path", "id"])
        if problem is not None:
            return 422, {"error": "RequestValidationError", "detail": [problem]}
        wanted = customer_id.lower()
        found = next(
            (
                c
                for c in data.customers
                if c["id"].lower() == wanted and c["organization_id"] == organization_id
            ),
            None,
        )
        return _customer_answer(data, found, state)

    return answer


def _by_external_id(
    external_id: str, *, state: bool
) -> Callable[[ReadData, str, list[tuple[str, str]], bool], Answer]:
    def answer(data: ReadData, organization_id: str, params: list[tuple[str, str]], strict: bool) -> Answer:
        if strict and params:
            return _unexpected(params[0][0])
        found = next(
            (
                c
                for c in data.customers
                if c.get("external_id") == external_id and c["organization_id"] == organization_id
            ),
            None,
        )
        return _customer_answer(data, found, state)

    return answer


def _customer_answer(data: ReadData, customer: dict[str, Any] | None, state: bool) -> Answer:
    if customer is None:
        return not_found()
    if not state:
        return 200, customer
    holdings = holdings_of(data.holdings, customer["id"])
    subscriptions = holdings["subscriptions"] if holdings else []
    return 200, {
        **customer,
        # The state shows only active and trialing subscriptions: past-due ones are left out.
        "active_subscriptions": [s for s in subscriptions if s["status"] in STATE_STATUSES],
        "granted_benefits": holdings["granted_benefits"] if holdings else [],
        "active_meters": holdings["active_meters"] if holdings else [],
    }


def _products(data: ReadData, organization_id: str, params: list[tuple[str, str]], strict: bool) -> Answer:
    errors: list[dict[str, Any]] = []
    for name, _ in params:
        if strict and name in PRODUCT_UNIMPLEMENTED:
            return 400, {"detail": f"fake Polar: query parameter {name!r} is not implemented"}
        if strict and name not in PRODUCT_PARAMETERS:
            return _unexpected(name)
    ids = [value for name, value in params if name == "id"]
    organizations = [value for name, value in params if name == "organization_id"]
    for key, values in (("id", ids), ("organization_id", organizations)):
        for index, value in enumerate(values):
            problem = _uuid4_problem(value, ["query", key, index])
            if problem is not None:
                errors.append(problem)
    page = _positive(params, "page", 1, errors)
    limit = _positive(params, "limit", 10, errors)
    if errors:
        return 422, {"error": "RequestValidationError", "detail": errors}
    limit = min(limit, 100)
    visible = [p for p in data.products if p["organization_id"] == organization_id]
    if organizations:
        visible = [p for p in visible if p["organization_id"] in organizations]
    if ids:
        wanted = {value.lower() for value in ids}
        visible = [p for p in visible if p["id"] in wanted]
    visible.sort(key=lambda p: p["created_at"], reverse=True)
    total = len(visible)
    items = visible[(page - 1) * limit : page * limit]
    return 200, {"items": items, "pagination": {"total_count": total, "max_page": math.ceil(total / limit)}}


def _positive(params: list[tuple[str, str]], name: str, default: int, errors: list[dict[str, Any]]) -> int:
    raw = next((value for key, value in params if key == name), str(default))
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        errors.append(
            {
                "loc": ["query", name],
                "msg": "Input should be greater than 0",
                "type": "greater_than",
                "input": raw,
            }
        )
        return default
    return value


def _uuid4_problem(text: str, loc: list[str | int]) -> dict[str, Any] | None:
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        return {
            "loc": loc,
            "msg": "Input should be a valid UUID, invalid group count: expected 5, found 1",
            "type": "uuid_parsing",
            "input": text,
        }
    if parsed.version != 4:
        return {
            "loc": loc,
            "msg": "UUID version 4 expected",
            "type": "uuid_version",
            "input": text,
            "ctx": {"expected_version": 4},
        }
    return None


def _unexpected(name: str) -> Answer:
    return 400, {"detail": f"fake Polar: unexpected query parameter {name!r}"}
