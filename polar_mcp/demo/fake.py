"""The fake Polar: Polar's customer API and its export, in-process and faithful to their contract.

It serves demo mode through `httpx.MockTransport(FakePolar(...))`, the tests in-process and over
real HTTP (`asgi_app`), and the benchmarks. It filters, sorts, pages, authenticates and fails the
way Polar does, records every request, and replays injected faults. In `strict` mode it refuses
parameters Polar does not define, which real Polar would silently ignore. This module serves the
customer list; `fake_read.py` the single customer, its state and the product list.
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
from typing import Any

import httpx

from polar_mcp.demo.billing import ACTIVE_STATUSES, DerivedHoldings, Holdings, holdings_of, sample_products
from polar_mcp.demo.fake_export import EXPORT_PATH, export_response
from polar_mcp.demo.fake_read import CUSTOMER_SCOPES, route_read

__all__ = ["DEFAULT_TOKEN", "FakePolar", "Fault", "asgi_app"]

DEFAULT_TOKEN = "polar_oat_fake_token_for_tests_only"
KNOWN_VERSIONS = {"2026-04", "2026-10"}
SORT_KEYS = ["created_at", "-created_at", "email", "-email", "name", "-name"]
_ALLOWED = {"organization_id", "email", "query", "active", "page", "limit", "sorting"}
_METADATA_KEY = re.compile(r"^metadata\[([^\[\]]+)\]$")
BODY_CHUNK = 64 * 1024
_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}


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
    """Call it with an `httpx.Request`; it answers like Polar's customer API.

    Billing (`holdings`, by customer ID) and `products` default to the sample organization's, derived
    from the customers; tests may edit both in place.
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
    ) -> None:
        # A private copy: tests edit customers in place, and the source list may be shared.
        self.customers = [copy.deepcopy(c) for c in customers if c.get("deleted_at") is None]
        organization = self.customers[0]["organization_id"] if self.customers else str(uuid.uuid4())
        self.holdings = holdings if holdings is not None else DerivedHoldings(self.customers)
        self.products = products if products is not None else sample_products(organization)
        default = Grant(organization, frozenset({"customers:read", "products:read"}))
        self.tokens = tokens if tokens is not None else {DEFAULT_TOKEN: default}
        self.strict = strict
        self.rate_limit = rate_limit
        self.requests: list[httpx.Request] = []
        self.faults: deque[Fault] = deque()

    def fail_next(self, *faults: Fault) -> None:
        """Queue faults; each answers one request, in order, before normal service resumes."""
        self.faults.extend(faults)

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
        if request.url.path in ("/v1/customers", "/v1/products"):
            return httpx.Response(
                307, headers={"Location": str(request.url.copy_with(path=request.url.path + "/"))}
            )
        # Routing reads the raw path: an external ID may hold an encoded '/', '?' or '#'.
        raw_path = request.url.raw_path.decode("ascii").partition("?")[0]
        read = route_read(raw_path)
        known = read is not None or request.url.path in ("/v1/customers/", EXPORT_PATH)
        if not known or request.method != "GET":
            return _response(404 if request.method == "GET" else 405, {"detail": "Not Found"})
        version = request.headers.get("polar-version")
        if version is not None and version not in KNOWN_VERSIONS:
            return _response(404, {"detail": "Not Found"})
        if self.rate_limit is not None and len(self.requests) > self.rate_limit:
            return _response(429, None, {"Retry-After": "60"})
        grant_or_error = self._authenticate(request, read.scopes if read else CUSTOMER_SCOPES)
        if isinstance(grant_or_error, httpx.Response):
            return grant_or_error
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
        content = response.content
        for start in range(0, max(len(content), 1), BODY_CHUNK):
            more = start + BODY_CHUNK < len(content)
            await send(
                {"type": "http.response.body", "body": content[start : start + BODY_CHUNK], "more_body": more}
            )

    return app
