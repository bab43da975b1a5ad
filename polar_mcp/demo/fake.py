"""The fake Polar: Polar's customer, billing and metrics API, in-process and faithful to their contract.

It serves demo mode through `httpx.MockTransport(FakePolar(...))`, the tests in-process and over
real HTTP (`asgi_app`), and the benchmarks. It filters, sorts, pages, authenticates and fails the
way Polar does, records every request, and replays injected faults. In `strict` mode it refuses
parameters Polar does not define, which real Polar would silently ignore. This module serves the
customer list; `fake_read.py` the single customer, its state and the product list; `fake_export.py`
the customers export; `fake_billing_export.py` the subscriptions and orders exports; `fake_metrics.py`
the metrics. The billing is the sample organization's on the day `as_of` describes (today's by default).
"""

from __future__ import annotations

import copy
import json
import math
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from polar_mcp.demo.billing import (
    ACTIVE_STATUSES,
    BillingHoldings,
    DerivedHoldings,
    Holdings,
    holdings_of,
    sample_products,
)
from polar_mcp.demo.fake_billing_export import (
    ORDER_SCOPES,
    ORDERS_EXPORT_PATH,
    SUBSCRIPTION_SCOPES,
    SUBSCRIPTIONS_EXPORT_PATH,
    Respond,
    orders_export,
    subscriptions_export,
)
from polar_mcp.demo.fake_export import EXPORT_PATH, export_response
from polar_mcp.demo.fake_metrics import LIMITS_PATH, METRICS_PATH, METRICS_SCOPES, limits, metrics
from polar_mcp.demo.fake_read import CUSTOMER_SCOPES, route_read
from polar_mcp.demo.ledger import SampleBilling, sample_billing
from polar_mcp.demo.periods import anchor_of

__all__ = ["DEFAULT_TOKEN", "FakePolar", "Fault", "asgi_app"]

DEFAULT_TOKEN = "polar_oat_fake_token_for_tests_only"
KNOWN_VERSIONS = {"2026-04", "2026-10"}
SORT_KEYS = ["created_at", "-created_at", "email", "-email", "name", "-name"]
_ALLOWED = {"organization_id", "email", "query", "active", "page", "limit", "sorting"}
_METADATA_KEY = re.compile(r"^metadata\[([^\[\]]+)\]$")
BODY_CHUNK = 64 * 1024
_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}
_REDIRECTED = ("/v1/customers", "/v1/products", "/v1/metrics")
DEFAULT_SCOPES = frozenset(
    {"customers:read", "products:read", "subscriptions:read", "orders:read", "metrics:read"}
)
"""What the default token may do: read everything the fake serves."""

BillingAnswer = Callable[[Any, str, list[tuple[str, str]], bool, Respond], httpx.Response]


@dataclass(frozen=True)
class BillingRoute:
    """A billing path: the scopes it needs (any of them) and what answers it."""

    scopes: frozenset[str]
    answer: BillingAnswer


BILLING_ROUTES: dict[str, BillingRoute] = {
    SUBSCRIPTIONS_EXPORT_PATH: BillingRoute(SUBSCRIPTION_SCOPES, subscriptions_export),
    ORDERS_EXPORT_PATH: BillingRoute(ORDER_SCOPES, orders_export),
    METRICS_PATH: BillingRoute(METRICS_SCOPES, metrics),
    LIMITS_PATH: BillingRoute(METRICS_SCOPES, limits),
}


@dataclass
class Fault:
    """One canned failure for the next request: a response, or a transport error when `error` is set."""

    status: int = 500
    body: bytes | str | dict[str, Any] | None = "Internal Server Error"
    headers: dict[str, str] = field(default_factory=dict)
    error: type[httpx.TransportError] | None = None


@dataclass
class Grant:
    """What a token may do: its organization and scopes."""

    organization_id: str
    scopes: frozenset[str] = frozenset({"customers:read"})


class FakePolar:
    """Call it with an `httpx.Request`; it answers like Polar's API.

    `billing` (subscriptions, orders, products: exports and metrics) defaults to the sample
    organization's on `as_of`'s date (today's when `None`), derived from the customers as they are when
    first needed, and again when the list gains or loses customers. `holdings` (the customer state, by
    customer ID) and `products` (the product list) default to the billing's; tests may edit all of them
    in place.
    """

    def __init__(
        self,
        customers: Iterable[dict[str, Any]],
        *,
        tokens: dict[str, Grant] | None = None,
        strict: bool = True,
        rate_limit: int | None = None,
        holdings: dict[str, Holdings] | None = None,
        products: list[dict[str, Any]] | None = None,
        as_of: datetime | None = None,
        billing: SampleBilling | None = None,
    ) -> None:
        # A private copy: tests edit customers in place, and the source list may be shared.
        self.customers = [copy.deepcopy(c) for c in customers if c.get("deleted_at") is None]
        organization = self.customers[0]["organization_id"] if self.customers else str(uuid.uuid4())
        self.as_of = anchor_of(as_of if billing is None else billing.anchor)
        self._billing = billing
        self._billing_given = billing is not None
        self._derived_for: tuple[str, ...] = ()
        if holdings is None:
            holdings = (
                BillingHoldings(billing)
                if billing is not None
                else DerivedHoldings(self.customers, self.as_of)
            )
        self.holdings = holdings
        if products is None:
            products = billing.products if billing is not None else sample_products(organization)
        self.products = products
        default = Grant(organization, DEFAULT_SCOPES)
        self.tokens = tokens if tokens is not None else {DEFAULT_TOKEN: default}
        self.strict = strict
        self.rate_limit = rate_limit
        self.requests: list[httpx.Request] = []
        self.faults: deque[Fault] = deque()

    def fail_next(self, *faults: Fault) -> None:
        """Queue faults; each answers one request, in order, before normal service resumes."""
        self.faults.extend(faults)

    @property
    def billing(self) -> SampleBilling:
        """The organization's subscriptions, orders and products, as the exports and metrics see them."""
        if self._billing is not None and self._billing_given:
            return self._billing
        ids = tuple(customer["id"] for customer in self.customers)
        if self._billing is None or ids != self._derived_for:
            self._billing = sample_billing(self.customers, self.as_of)
            self._derived_for = ids
        return self._billing

    @billing.setter
    def billing(self, value: SampleBilling) -> None:
        self._billing = value
        self._billing_given = True

    @property
    def queries(self) -> list[str]:
        """The raw query string of every request received, decoded, in order."""
        return [httpx.URL(str(r.url)).query.decode() for r in self.requests]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            fault = self.faults.popleft()
            if fault.error is not None:
                raise fault.error("injected fault", request=request)
            return _response(fault.status, fault.body, fault.headers)
        if request.url.path in _REDIRECTED:
            return httpx.Response(
                307, headers={"Location": str(request.url.copy_with(path=request.url.path + "/"))}
            )
        # Routing reads the raw path: an external ID may hold an encoded '/', '?' or '#'.
        raw_path = request.url.raw_path.decode("ascii").partition("?")[0]
        read = route_read(raw_path)
        billing = BILLING_ROUTES.get(raw_path)
        known = read is not None or billing is not None or request.url.path in ("/v1/customers/", EXPORT_PATH)
        if not known or request.method != "GET":
            return _response(404 if request.method == "GET" else 405, {"detail": "Not Found"})
        version = request.headers.get("polar-version")
        if version is not None and version not in KNOWN_VERSIONS:
            return _response(404, {"detail": "Not Found"})
        if self.rate_limit is not None and len(self.requests) > self.rate_limit:
            return _response(429, None, {"Retry-After": "60"})
        scopes = read.scopes if read else billing.scopes if billing else CUSTOMER_SCOPES
        grant_or_error = self._authenticate(request, scopes)
        if isinstance(grant_or_error, httpx.Response):
            return grant_or_error
        if billing is not None:
            params = list(request.url.params.multi_items())
            return billing.answer(self, grant_or_error.organization_id, params, self.strict, _response)
        if read is not None:
            status, body = read.answer(
                self, grant_or_error.organization_id, list(request.url.params.multi_items()), self.strict
            )
            return _response(status, body)
        if request.url.path == EXPORT_PATH:
            return self._export(request.url.params, grant_or_error)
        return self._list(request.url.params, grant_or_error)

    def _export(self, params: httpx.QueryParams, grant: Grant) -> httpx.Response:
        visible = [c for c in self.customers if c["organization_id"] == grant.organization_id]
        return export_response(visible, params, strict=self.strict, error=_response)

    def _authenticate(self, request: httpx.Request, scopes: frozenset[str]) -> Grant | httpx.Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _response(401, {"error": "Unauthorized", "detail": "Not authenticated"})
        grant = self.tokens.get(token)
        if grant is None:
            return _response(
                401,
                {
                    "error": "invalid_token",
                    "error_description": "The access token provided is expired, "
                    "revoked, malformed, or invalid for other reasons.",
                },
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if not grant.scopes & scopes:
            return _response(
                403,
                {
                    "error": "insufficient_scope",
                    "error_description": "The request requires higher privileges "
                    "than provided by the access token.",
                },
            )
        return grant

    def _list(self, params: httpx.QueryParams, grant: Grant) -> httpx.Response:
        errors: list[dict[str, Any]] = []
        metadata: dict[str, list[str]] = {}
        for name in params:
            match = _METADATA_KEY.match(name)
            if match:
                metadata[match.group(1)] = params.get_list(name)
            elif name not in _ALLOWED and self.strict:
                return _response(400, {"detail": f"fake Polar: unexpected query parameter {name!r}"})
        page = _positive_int(params.get("page", "1"), "page", errors)
        limit = _positive_int(params.get("limit", "10"), "limit", errors)
        sorting = params.get_list("sorting") or ["-created_at"]
        for index, key in enumerate(sorting):
            if key not in SORT_KEYS:
                errors.append(
                    _error(
                        ["query", "sorting", index],
                        "Input should be " + ", ".join(f"'{k}'" for k in SORT_KEYS),
                        "enum",
                        key,
                    )
                )
        org_ids = params.get_list("organization_id")
        for index, org in enumerate(org_ids):
            if not _is_uuid(org):
                errors.append(
                    _error(
                        ["query", "organization_id", index],
                        "Input should be a valid UUID",
                        "uuid_parsing",
                        org,
                    )
                )
        active = params.get("active")
        if active is not None and active.lower() not in _TRUE | _FALSE:
            errors.append(
                _error(["query", "active"], "Input should be a valid boolean", "bool_parsing", active)
            )
        if errors:
            return _response(422, {"error": "RequestValidationError", "detail": errors})
        assert page is not None and limit is not None  # no errors means both parsed
        limit = min(limit, 100)  # Polar caps silently

        visible = [c for c in self.customers if c["organization_id"] == grant.organization_id]
        if org_ids:
            wanted = {o.lower() for o in org_ids}
            visible = [c for c in visible if c["organization_id"].lower() in wanted]
        if (email := params.get("email")) is not None:
            visible = [c for c in visible if (c.get("email") or "").lower() == email.lower()]
        if (text := params.get("query")) is not None:
            visible = [c for c in visible if _matches_query(c, text)]
        if active is not None:
            wanted_active = active.lower() in _TRUE
            visible = [c for c in visible if self._is_active(c) == wanted_active]
        for key, values in metadata.items():
            visible = [c for c in visible if _metadata_text(c.get("metadata", {}).get(key)) in values]

        visible.sort(key=lambda c: c["id"])  # final tie-break keeps paging stable
        for key in reversed(sorting):
            column = key.lstrip("-")
            descending = key.startswith("-")
            present = [c for c in visible if c.get(column) is not None]
            missing = [c for c in visible if c.get(column) is None]
            present.sort(key=lambda c: _sort_value(c[column]), reverse=descending)
            # PostgreSQL puts NULLs last ascending and first descending.
            visible = missing + present if descending else present + missing

        total = len(visible)
        items = visible[(page - 1) * limit : page * limit]
        return _response(
            200, {"items": items, "pagination": {"total_count": total, "max_page": math.ceil(total / limit)}}
        )

    def _is_active(self, customer: dict[str, Any]) -> bool:
        # Polar's `active`: at least one trialing, active or past-due subscription.
        holdings = holdings_of(self.holdings, customer["id"])
        return holdings is not None and any(s["status"] in ACTIVE_STATUSES for s in holdings["subscriptions"])


def _matches_query(customer: dict[str, Any], text: str) -> bool:
    needle = text.lower()
    for column in ("email", "name", "billing_name"):
        if needle in (customer.get(column) or "").lower():
            return True
    return (customer.get("external_id") or "").lower().startswith(needle)


def _metadata_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _sort_value(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _positive_int(raw: str, name: str, errors: list[dict[str, Any]]) -> int | None:
    try:
        value = int(raw)
    except ValueError:
        errors.append(
            _error(
                ["query", name],
                "Input should be a valid integer, unable to parse string as an integer",
                "int_parsing",
                raw,
            )
        )
        return None
    if value <= 0:
        errors.append(_error(["query", name], "Input should be greater than 0", "greater_than", raw))
        return None
    return value


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _error(loc: list[str | int], msg: str, kind: str, value: Any) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind, "input": value}


def _response(
    status: int, body: bytes | str | dict[str, Any] | None, headers: dict[str, str] | None = None
) -> httpx.Response:
    headers = dict(headers or {})
    if isinstance(body, dict):
        # Polar serves compact UTF-8 JSON, as Starlette's JSONResponse does.
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers.setdefault("content-type", "application/json")
    elif isinstance(body, str):
        content = body.encode()
        headers.setdefault("content-type", "text/plain; charset=utf-8")
    else:
        content = body or b""
    return httpx.Response(status, content=content, headers=headers)


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def asgi_app(fake: FakePolar) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """Serve `fake` over real HTTP with any ASGI server (uvicorn in the tests and benchmarks)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        host = dict(scope["headers"]).get(b"host", b"127.0.0.1").decode()
        # The raw path keeps percent-encoding, which the read endpoints route by.
        path = scope.get("raw_path") or scope["path"].encode()
        url = f"http://{host}{path.decode('ascii')}" + (
            f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
        )
        request = httpx.Request(scope["method"], url, headers=scope["headers"], content=body)
        try:
            response = fake(request)
        except httpx.TransportError:
            # An injected transport fault: drop the connection without an answer.
            response = httpx.Response(502, content=b"Bad Gateway")
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [(k.encode(), v.encode()) for k, v in response.headers.items()],
            }
        )
        # In pieces, as a streamed response arrives: a large export must not come as one block.
        for chunk in response.iter_bytes(BODY_CHUNK):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app
