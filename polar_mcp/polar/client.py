"""The Polar API client: one request path for every endpoint, with deadlines, retries and bounded reads."""

from __future__ import annotations

import http.cookiejar
import json
import logging
import random
import re
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import httpx
import pydantic_core

from polar_mcp import __version__
from polar_mcp.config import TOKEN_HELP, Settings
from polar_mcp.errors import ConfigError, InvalidResponse, PolarError
from polar_mcp.polar.billing_export import (
    ORDER_EXPORT_COLUMNS,
    SUBSCRIPTION_EXPORT_COLUMNS,
    ExportedOrder,
    ExportedSubscription,
    OrderParser,
    SubscriptionParser,
)
from polar_mcp.polar.endpoints import (
    CUSTOMERS,
    EXPORT,
    METRICS,
    ORDERS_EXPORT,
    PRODUCTS,
    SUBSCRIPTIONS_EXPORT,
    Endpoint,
    customer_state_endpoint,
)
from polar_mcp.polar.error_map import DETAIL_LIMIT, error_for_response, error_for_transport, timed_out
from polar_mcp.polar.export import ExportedCustomer, ExportParser, ExportStats, NotCsv, TableParser
from polar_mcp.polar.metrics import ApiMetrics, parse_metrics
from polar_mcp.polar.models import (
    ApiCustomerPage,
    ApiProductPage,
    parse_customer_state,
    parse_page,
    parse_products,
)
from polar_mcp.polar.query import CustomerQuery
from polar_mcp.polar.retry import (
    MAX_ATTEMPTS,
    MAX_CONNECTIONS,
    RETRY_BUDGET,
    call_budget,
    parse_retry_after,
    pool_wait,
    retry_delay,
    should_retry,
)
from polar_mcp.sanitize import (
    MIN_SECRET_CHARS,
    clean_value,
    json_needs_cleaning,
    mentions,
    redact_value,
    relay,
)

__all__ = ["MAX_BODY_BYTES", "MAX_JSON_DEPTH", "PRODUCT_NAME_TTL", "PolarClient"]

logger = logging.getLogger(__name__)

MAX_PRODUCT_IDS = 100  # one page of the product list
MAX_PRODUCT_PAGES = 50  # 5,000 products: far more than an organization sells
EXPORT_NAMES = {
    EXPORT.path: "customer export",
    SUBSCRIPTIONS_EXPORT.path: "subscription export",
    ORDERS_EXPORT.path: "order export",
}
# A JSON answer is read whole; 100 detailed customers with full metadata are well under 1 MiB.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_ERROR_BODY_BYTES = 64 * 1024  # of a failed answer, only enough for Polar's 422 details
MAX_JSON_DEPTH = 64  # Polar's objects nest a handful of levels
PRODUCT_NAME_TTL = 300.0  # seconds a product name is reused before it is asked for again
MAX_CACHED_PRODUCTS = 2000
EXPORT_BATCH = 2_000  # customers handed to an export's sink at a time, at most
EXPORT_BATCH_BYTES = 4 * 1024 * 1024  # or fewer, once they came from this many bytes of the body
EXPORT_PIECE_BYTES = 64 * 1024  # of the body parsed between two checkpoints of the event loop

Sleep = Callable[[float], Awaitable[None]]
_Row = TypeVar("_Row")
ExportSink = Callable[[list[_Row]], Awaitable[None]]
ExportProgress = Callable[[ExportStats], None]
"""Called with the running counts after each chunk of an export; it may raise to stop the download."""
_Parsed = TypeVar("_Parsed")


class _NoCookies(http.cookiejar.CookiePolicy):
    """Refuse every cookie: one process serves many users, and Polar's API needs none."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = True

    def set_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: urllib.request.Request) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: urllib.request.Request) -> bool:
        return False

    def path_return_ok(self, path: str, request: urllib.request.Request) -> bool:
        return False


def _too_deep(value: Any, limit: int) -> bool:
    """Whether anything in `value`, parsed JSON, sits more than `limit` levels deep (`value` itself is
    level 1). Walks one level at a time in a single comprehension, keeping only the containers, so the
    many scalars of a page cost one type check each and no function call."""
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 1
    while level:
        if depth >= limit:
            return any(level)  # a non-empty container at the last level holds values one level too deep
        level = [
            member
            for container in level
            for member in (container.values() if type(container) is dict else container)
            if type(member) is dict or type(member) is list
        ]
        depth += 1
    return False


class PolarClient:
    """Async client for the Polar endpoints the tools need; share one per process.

    Time: each attempt has `settings.timeout` seconds for connect, headers and body together; a call,
    all its attempts and waits included, ends within `call_budget(settings.timeout)`. Size: a JSON answer
    is read up to `MAX_BODY_BYTES`, a failed answer up to `MAX_ERROR_BODY_BYTES`. No cookie is kept.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = anyio.sleep,
        jitter: Callable[[], float] = random.random,
        retry_budget: float = RETRY_BUDGET,
        max_attempts: int = MAX_ATTEMPTS,
        max_body_bytes: int = MAX_BODY_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._sleep = sleep
        self._jitter = jitter
        self._retry_budget = retry_budget
        self._max_attempts = max_attempts
        self.max_body_bytes = max_body_bytes
        self.call_budget = call_budget(settings.timeout, max_attempts, retry_budget)
        self._clock = clock
        self._http: httpx.AsyncClient | None = None
        self._product_names: dict[str, tuple[str, float]] = {}  # product ID: (name, when fetched)

    def _client(self) -> httpx.AsyncClient:
        # Created on first use so it binds to the event loop that serves requests.
        if self._http is None:
            headers = {"Accept": "application/json", "User-Agent": f"polar-mcp/{__version__}"}
            if self.settings.api_version:
                headers["Polar-Version"] = self.settings.api_version
            self._http = httpx.AsyncClient(
                base_url=self.settings.server_url,
                headers=headers,
                timeout=httpx.Timeout(self.settings.timeout, pool=pool_wait(self.settings)),
                limits=httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=20),
                transport=self._transport,
                follow_redirects=False,
                cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
            )
        return self._http

    async def aclose(self) -> None:
        """Close pooled connections; safe to call more than once."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def list_customers(self, query: CustomerQuery) -> ApiCustomerPage:
        """Fetch one page of `GET /v1/customers/`; raise a `PolarError` subclass on any failure."""
        payload = await self._get_json(CUSTOMERS, query.params())
        return self._parsed(parse_page, payload)

    async def customer_state(
        self, *, customer_id: str | None = None, external_id: str | None = None
    ) -> dict[str, Any]:
        """`GET /v1/customers/{id}/state` or its external-ID twin: the customer with its subscriptions,
        benefits and meters, as a raw dict whose envelope is checked."""
        endpoint = customer_state_endpoint(customer_id=customer_id, external_id=external_id)
        payload = await self._get_json(endpoint, [])
        return self._parsed(parse_customer_state, payload)

    async def metrics(self, params: Sequence[tuple[str, str]]) -> ApiMetrics:
        """One `GET /v1/metrics/` (`metrics:read`): the periods, totals and types Polar computed."""
        return self._parsed(parse_metrics, await self._get_json(METRICS, params))

    async def products(self, product_ids: Sequence[str]) -> ApiProductPage:
        """One request for the named products (`products:read` scope); raises `ScopeError` without it."""
        ids = list(dict.fromkeys(product_ids))[:MAX_PRODUCT_IDS]
        params = [("id", product_id) for product_id in ids] + [("limit", str(MAX_PRODUCT_IDS))]
        payload = await self._get_json(PRODUCTS, params)
        return self._parsed(parse_products, payload)

    async def product_names(self, product_ids: Sequence[str]) -> dict[str, str]:
        """Names of the given products: cached ones for `PRODUCT_NAME_TTL` seconds, the rest in one
        products request. Products Polar does not return are left out; raises `ScopeError` without
        `products:read`."""
        now = self._clock()
        names: dict[str, str] = {}
        missing: list[str] = []
        for product_id in dict.fromkeys(product_ids):
            cached = self._product_names.get(product_id)
            if cached is not None and now - cached[1] < PRODUCT_NAME_TTL:
                names[product_id] = cached[0]
            else:
                missing.append(product_id)
        if not missing:
            return names
        page = await self.products(missing)
        if len(self._product_names) > MAX_CACHED_PRODUCTS:
            self._product_names.clear()
        for item in page.items:
            found, name = item.get("id"), item.get("name")
            if isinstance(found, str) and isinstance(name, str):
                self._product_names[found] = (name, now)
                if found in missing:
                    names[found] = name
        return names

    async def export_customers(
        self,
        sink: ExportSink[ExportedCustomer],
        organization_ids: Sequence[str] = (),
        *,
        progress: ExportProgress | None = None,
    ) -> ExportStats:
        """Stream `GET /v1/customers/export`, handing `sink` the customers in batches as the CSV arrives.

        `progress` sees the counts after every chunk and may stop the download by raising; malformed rows
        are counted in the returned stats, never fatal. A body that is not the CSV is `InvalidResponse`.
        """
        params = [("organization_id", str(org)) for org in organization_ids]
        return await self._export(EXPORT, ExportParser(secret=self._data_secret()), params, sink, progress)

    async def export_subscriptions(
        self,
        sink: ExportSink[ExportedSubscription],
        organization_ids: Sequence[str] = (),
        *,
        progress: ExportProgress | None = None,
    ) -> ExportStats:
        """Stream `GET /v1/subscriptions/export` (every column, UTC), as `export_customers` does the
        customers; needs `subscriptions:read` (`ScopeError` without it)."""
        params = _export_params(organization_ids, SUBSCRIPTION_EXPORT_COLUMNS)
        parser = SubscriptionParser(secret=self._data_secret())
        return await self._export(SUBSCRIPTIONS_EXPORT, parser, params, sink, progress)

    async def export_orders(
        self,
        sink: ExportSink[ExportedOrder],
        organization_ids: Sequence[str] = (),
        *,
        progress: ExportProgress | None = None,
    ) -> ExportStats:
        """Stream `GET /v1/orders/export` (every column, UTC); needs `orders:read`."""
        params = _export_params(organization_ids, ORDER_EXPORT_COLUMNS)
        return await self._export(
            ORDERS_EXPORT, OrderParser(secret=self._data_secret()), params, sink, progress
        )

    async def all_products(self, organization_ids: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Every product, archived ones included, one request per `MAX_PRODUCT_IDS`; `products:read`."""
        products: list[dict[str, Any]] = []
        base = [("organization_id", str(org)) for org in organization_ids]
        for page in range(1, MAX_PRODUCT_PAGES + 1):
            params = [*base, ("page", str(page)), ("limit", str(MAX_PRODUCT_IDS))]
            answer = self._parsed(parse_products, await self._get_json(PRODUCTS, params))
            products += answer.items
            if page >= answer.pagination.max_page:
                return products
        raise InvalidResponse(
            f"{self.settings.environment_label} listed more than {MAX_PRODUCT_PAGES * MAX_PRODUCT_IDS:,} "
            "products, more than polar-mcp reads; the first of them were not used. Report this to the "
            "polar-mcp maintainers."
        )

    def _data_secret(self) -> str | None:
        """The token, when long enough to be looked for in data that might echo it."""
        token = self.settings.access_token
        return token if token and len(token) >= MIN_SECRET_CHARS else None

    async def _export(
        self,
        endpoint: Endpoint,
        parser: TableParser[_Row],
        params: Sequence[tuple[str, str]],
        sink: ExportSink[_Row],
        progress: ExportProgress | None,
    ) -> ExportStats:
        batch: list[_Row] = []
        flushed = 0  # body bytes read when the last batch was handed over
        async with self.stream(endpoint, params) as response:
            kind = relay(response.headers.get("content-type", ""), None, 80)
            if "json" in kind or "html" in kind:
                raise self._not_csv(endpoint, f"it sent {kind}")
            try:
                async for chunk in response.aiter_bytes():
                    # In pieces, each followed by a checkpoint: one huge chunk never holds the event loop.
                    for start in range(0, len(chunk), EXPORT_PIECE_BYTES):
                        batch += parser.feed(chunk[start : start + EXPORT_PIECE_BYTES])
                        if progress is not None:
                            progress(parser.stats)
                        while len(batch) >= EXPORT_BATCH:
                            await sink(batch[:EXPORT_BATCH])
                            del batch[:EXPORT_BATCH]
                        if batch and parser.stats.bytes - flushed >= EXPORT_BATCH_BYTES:
                            await sink(batch)
                            batch = []
                        if not batch:
                            flushed = parser.stats.bytes
                        await anyio.lowlevel.checkpoint()
                batch += parser.finish()
            except NotCsv as exc:
                raise self._not_csv(endpoint, str(exc)) from None
            except httpx.HTTPError as exc:
                # The body broke off after a successful status: nothing to retry within this call.
                raise error_for_transport(exc, self.settings, 1) from None
        if progress is not None:
            progress(parser.stats)
        if batch:
            await sink(batch)
        return parser.stats

    def _not_csv(self, endpoint: Endpoint, why: str) -> InvalidResponse:
        return InvalidResponse(
            f"{self.settings.environment_label} answered the {EXPORT_NAMES.get(endpoint.path, 'export')}, "
            f"but {why}, not the CSV export. A proxy or a wrong POLAR_SERVER_URL may be in the way; try "
            "again, and check the URL if it persists."
        )

    def _parsed(self, parse: Callable[[Any], _Parsed], payload: Any) -> _Parsed:
        try:
            return parse(payload)
        except InvalidResponse as exc:
            raise InvalidResponse(
                f"{self.settings.environment_label} answered but "
                f"{relay(str(exc), self.settings.access_token, DETAIL_LIMIT)}. "
                "Check POLAR_SERVER_URL and POLAR_API_VERSION; try again if it was a one-off."
            ) from None

    async def read_body(self, response: httpx.Response, limit: int) -> bytes:
        """Read a streamed body of at most `limit` bytes (after decompression); raise `InvalidResponse`
        beyond that, without reading the rest."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(limit)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise self._too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, limit: int) -> InvalidResponse:
        return InvalidResponse(
            f"{self.settings.environment_label} sent an answer larger than {limit // (1024 * 1024)} MiB, "
            "more than any page should be; nothing of it was used. Ask for fewer items (a smaller limit); "
            "if it persists, check POLAR_SERVER_URL."
        )

    async def _get_json(self, endpoint: Endpoint, params: Sequence[tuple[str, str]]) -> Any:
        """The body of a JSON endpoint, bounded in size and depth, with every string cleaned: no tool
        ever sees control or invisible characters from upstream."""
        async with self.stream(endpoint, params) as response:
            body = await self.read_body(response, self.max_body_bytes)
        try:
            payload = _parse_json(body)
        except (ValueError, RecursionError):
            payload = _NOT_JSON
        if payload is _NOT_JSON:
            kind = relay(response.headers.get("content-type", "unknown content type"), None, 80)
            raise InvalidResponse(
                f"{self.settings.environment_label} answered {response.status_code} with {kind}, not JSON. "
                "A proxy or a wrong POLAR_SERVER_URL may be in the way; try again, and check the URL if it "
                "persists."
            )
        if _too_deep(payload, MAX_JSON_DEPTH):
            raise InvalidResponse(
                f"{self.settings.environment_label} answered with JSON nested more than {MAX_JSON_DEPTH} "
                "levels deep, unlike any Polar answer. Check POLAR_SERVER_URL; try again if it was a one-off."
            )
        payload = clean_value(payload) if json_needs_cleaning(body) else payload
        token = self.settings.access_token
        if token and len(token) >= MIN_SECRET_CHARS and _may_hold(body, token):
            # An upstream that echoes the request's Authorization header must not hand the token on.
            payload = redact_value(payload, token)
        return payload

    @asynccontextmanager
    async def stream(
        self, endpoint: Endpoint, params: Sequence[tuple[str, str]]
    ) -> AsyncIterator[httpx.Response]:
        """The one request path: GET `endpoint`, retrying within the budget; yields a successful response
        whose body is not read yet, so a caller can stream it. Every failure is a `PolarError`.

        The attempt's deadline also covers whatever the caller does inside the `async with`, body reads
        included: when it passes, the caller's pending read is cancelled and `PolarUnreachable` is raised
        from the `async with`. Read JSON with `read_body` (size-bounded); a streaming caller bounds its
        own size and cleans what it relays.
        """
        request = self._request(endpoint, params)
        attempt_time = self.settings.timeout * endpoint.time_factor
        budget = _Budget(ends=anyio.current_time() + max(self.call_budget, attempt_time))
        attempt = 0
        while True:
            attempt += 1
            outcome = _Outcome()  # what is known if the deadline passes before the attempt returns
            with anyio.CancelScope(deadline=budget.attempt_deadline(attempt_time)) as scope:
                outcome = await self._attempt(request, endpoint, attempt)
                if outcome.response is not None:
                    try:
                        yield outcome.response
                    finally:
                        with anyio.CancelScope(shield=True):
                            await outcome.response.aclose()
            delivered = outcome.response is not None
            if scope.cancelled_caught:
                logger.warning("Polar attempt %d ran out of time", attempt)
                outcome = _Outcome(failure=timed_out(self.settings, attempt, attempt_time))
            elif delivered:
                return
            assert outcome.failure is not None
            if delivered or not outcome.retryable:
                raise outcome.failure  # a body already handed over is not asked for again
            await self._wait_to_retry(attempt, outcome, budget)

    def _request(self, endpoint: Endpoint, params: Sequence[tuple[str, str]]) -> httpx.Request:
        token = self.settings.access_token
        if not token:
            raise ConfigError(f"POLAR_ACCESS_TOKEN is not set, so Polar cannot be queried. {TOKEN_HELP}")
        return self._client().build_request(
            "GET",
            endpoint.path,
            params=httpx.QueryParams(tuple(params)),
            headers={"Authorization": f"Bearer {token}"},
        )

    async def _attempt(self, request: httpx.Request, endpoint: Endpoint, attempt: int) -> _Outcome:
        """Send once and classify: an open successful response, or the failure (its body read and closed)."""
        try:
            response = await self._client().send(request, stream=True)
        except httpx.HTTPError as exc:
            logger.warning("Polar request failed (attempt %d): %s", attempt, type(exc).__name__)
            # A full pool is local congestion: another attempt would only add to it.
            retryable = not isinstance(exc, httpx.PoolTimeout)
            return _Outcome(failure=error_for_transport(exc, self.settings, attempt), retryable=retryable)
        if response.is_success:
            logger.debug("Polar answered %d (attempt %d)", response.status_code, attempt)
            return _Outcome(response=response)
        try:
            body = await self._error_body(response)
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()
        logger.warning("Polar answered %d (attempt %d)", response.status_code, attempt)
        return _Outcome(
            failure=error_for_response(response, self.settings, attempt, endpoint, body),
            retryable=should_retry(response.status_code),
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )

    async def _wait_to_retry(self, attempt: int, outcome: _Outcome, budget: _Budget) -> None:
        """Sleep before the next attempt, or raise the failure when no attempt or time is left."""
        assert outcome.failure is not None
        if attempt >= self._max_attempts:
            raise outcome.failure
        delay = retry_delay(attempt, outcome.retry_after, self._jitter())
        if budget.slept + delay > self._retry_budget or anyio.current_time() + delay >= budget.ends:
            # Polar's Retry-After is the whole window (often 60 s): waiting that long inside
            # one tool call would stall the assistant, so tell it when to come back instead.
            raise outcome.failure
        await self._sleep(delay)
        budget.slept += delay

    async def _error_body(self, response: httpx.Response) -> bytes | None:
        """As much of a failed answer as the error map needs; the status alone decides if reading fails."""
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= MAX_ERROR_BODY_BYTES:
                    break
        except httpx.HTTPError:
            return None
        return b"".join(chunks)[:MAX_ERROR_BODY_BYTES]


@dataclass
class _Outcome:
    """What one attempt came to: an open successful response, or a failure and whether to try again."""

    response: httpx.Response | None = None
    failure: PolarError | None = None
    retryable: bool = True
    retry_after: float | None = None


@dataclass
class _Budget:
    """The whole call's time: when it ends, and how long retries have slept so far."""

    ends: float
    slept: float = 0.0

    def attempt_deadline(self, attempt_time: float) -> float:
        return min(anyio.current_time() + attempt_time, self.ends)


def _export_params(organization_ids: Sequence[str], columns: Sequence[str]) -> list[tuple[str, str]]:
    """Every column (Polar's default set is short), timestamps in UTC, the organizations chosen."""
    params = [("organization_id", str(org)) for org in organization_ids]
    return [*params, *(("columns", column) for column in columns), ("timezone", "UTC")]


_NOT_JSON = object()
# A JSON escape of a printable ASCII character: no encoder writes one, but it could spell the token.
_ASCII_ESCAPE = re.compile(rb"\\u00[2-7][0-9a-fA-F]")


def _may_hold(body: bytes, token: str) -> bool:
    """Whether a JSON body could hold the token in any form (any case, percent-encoded, escaped); a
    True is checked string by string. Decided in C for an ordinary page."""
    if token.lower().encode() in body.lower():
        return True
    return (b"%" in body and mentions(body.decode("utf-8", "replace"), token)) or bool(
        _ASCII_ESCAPE.search(body)
    )


def _parse_json(body: bytes) -> Any:
    """`json.loads`, through pydantic's faster parser first; what that one refuses (a BOM, UTF-16, a
    lone surrogate escape) gets the standard library's verdict, so what counts as JSON is unchanged."""
    try:
        return pydantic_core.from_json(body, cache_strings="keys")
    except ValueError:
        return json.loads(body)
