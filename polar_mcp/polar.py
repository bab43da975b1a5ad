"""The Polar API client: one request path for every endpoint, retries in a time budget, one error map."""

from __future__ import annotations

import http.cookiejar
import json
import logging
import math
import random
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from itertools import chain, compress
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
import httpx
import pydantic_core

from polar_mcp import __version__
from polar_mcp.config import TOKEN_HELP, Settings
from polar_mcp.errors import (
    AuthError,
    ConfigError,
    InvalidRequest,
    InvalidResponse,
    NotFound,
    PolarError,
    PolarUnreachable,
    RateLimited,
    ScopeError,
    SnapshotTooLarge,
    UpstreamError,
)
from polar_mcp.export import ExportedCustomer, ExportParser, ExportStats, NotCsv
from polar_mcp.models import ApiCustomerPage, ApiProductPage, parse_customer_state, parse_page, parse_products
from polar_mcp.query import CustomerQuery
from polar_mcp.text import clean_value, json_needs_cleaning, relay

__all__ = [
    "CALL_BUDGET_CAP",
    "CUSTOMERS",
    "EXPORT",
    "MAX_ATTEMPTS",
    "MAX_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "PRODUCTS",
    "RETRY_BUDGET",
    "Endpoint",
    "PolarClient",
    "call_budget",
    "customer_state_endpoint",
    "error_for_response",
    "error_for_transport",
    "not_found_error",
    "parse_retry_after",
    "retry_delay",
    "should_retry",
]

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RETRY_BUDGET = 10.0  # seconds of sleeping allowed across all retries of one call
# A whole call, attempts and waits included, ends within this unless POLAR_TIMEOUT alone is longer:
# MCP clients commonly give up on a request after 60 s.
CALL_BUDGET_CAP = 55.0
EXPORT_TIME_FACTOR = 4.0  # the export has 4 x POLAR_TIMEOUT (2 minutes by default) for its whole body
BACKOFF_BASE = 0.5
BACKOFF_CAP = 4.0
MAX_RETRY_AFTER = 3600.0  # a longer or non-finite Retry-After is read as this
MAX_PRODUCT_IDS = 100  # one page of the product list
# A JSON answer is read whole; 100 detailed customers with full metadata are well under 1 MiB.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_ERROR_BODY_BYTES = 64 * 1024  # of a failed answer, only enough for Polar's 422 details
MAX_JSON_DEPTH = 64  # Polar's objects nest a handful of levels
REASON_LIMIT = 60  # characters of an upstream reason phrase relayed
DETAIL_LIMIT = 500  # characters of Polar's 422 details relayed
MAX_CONNECTIONS = 100  # requests to Polar under way at once, across all calls of this process
POOL_WAIT = 5.0  # seconds a request waits for a free connection before the call gives up
PRODUCT_NAME_TTL = 300.0  # seconds a product name is reused before it is asked for again
MAX_CACHED_PRODUCTS = 2000
EXPORT_BATCH = 2_000  # customers handed to an export's sink at a time

Sleep = Callable[[float], Awaitable[None]]
ExportSink = Callable[[list[ExportedCustomer]], Awaitable[None]]
_Parsed = TypeVar("_Parsed")


@dataclass(frozen=True)
class Endpoint:
    """One Polar operation as the error map needs to know it.

    `not_found` is what a 404 means here: for a lookup, that no such resource exists (the message to
    give); for a collection (`None`), that the base URL or the API version is wrong.
    """

    path: str
    scope: str = "customers:read"
    not_found: str | None = None
    time_factor: float = 1.0
    """An attempt here may take this many times `POLAR_TIMEOUT`, for a body far larger than a page."""


# The trailing slashes matter: without them Polar answers 307.
CUSTOMERS = Endpoint("/v1/customers/")
PRODUCTS = Endpoint("/v1/products/", scope="products:read")
# Every customer in one streamed body: a large organization's export takes far longer than a page.
EXPORT = Endpoint("/v1/customers/export", time_factor=EXPORT_TIME_FACTOR)


def customer_state_endpoint(*, customer_id: str | None = None, external_id: str | None = None) -> Endpoint:
    """`/v1/customers/{id}/state` or `/v1/customers/external/{external_id}/state`, the ID percent-encoded."""
    if customer_id is not None:
        return Endpoint(
            f"/v1/customers/{quote(customer_id, safe='')}/state",
            not_found=f"no customer has ID {customer_id}",
        )
    if external_id is None:
        raise ValueError("give customer_id or external_id")
    # The seller's own ID may hold '/', '?', '#', spaces and non-ASCII: all of it goes in one segment.
    return Endpoint(
        f"/v1/customers/external/{quote(external_id, safe='')}/state",
        not_found=f"no customer has external ID {external_id!r}",
    )


def call_budget(
    timeout: float, max_attempts: int = MAX_ATTEMPTS, retry_budget: float = RETRY_BUDGET
) -> float:
    """Seconds one call may take in all, every attempt and wait included: each attempt has `timeout`
    (connect, headers and body), but the sum is capped at `CALL_BUDGET_CAP` unless `timeout` is longer."""
    return max(timeout, min(max_attempts * timeout + retry_budget, CALL_BUDGET_CAP))


def should_retry(status_code: int) -> bool:
    """GET is idempotent, so rate limits and server-side faults are worth another attempt."""
    return status_code == 429 or status_code >= 500


def retry_delay(attempt: int, retry_after: float | None, jitter: float) -> float:
    """Seconds to wait before attempt `attempt + 1`: Polar's `Retry-After` if given, else backoff.

    `jitter` is a number in [0, 1) so that many clients do not retry in lockstep.
    """
    if retry_after is not None:
        return max(0.0, retry_after)
    backoff: float = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** (attempt - 1))
    return backoff * (0.5 + jitter / 2)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Read `Retry-After` as seconds or an HTTP date; `None` when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def error_for_response(
    response: httpx.Response,
    settings: Settings,
    attempts: int = 1,
    endpoint: Endpoint = CUSTOMERS,
    body: bytes | None = None,
) -> PolarError:
    """Map a non-2xx response to the error that tells the assistant what to do. `body` is what was read
    of it (bounded); without it the response's own content is used."""
    status = response.status_code
    where = settings.environment_label
    reason = relay(response.reason_phrase, settings.access_token, REASON_LIMIT)
    if status == 401:
        other = "sandbox" if settings.environment == "production" else "production"
        return AuthError(
            f"{where} rejected the access token (401). It may be expired or revoked, or belong to the other "
            f"environment: sandbox tokens only work in sandbox and production tokens only in production. "
            f"If this is a {other} token, set POLAR_SERVER={other}; otherwise set a new POLAR_ACCESS_TOKEN. "
            "Then restart the MCP server.",
            status_code=status,
        )
    if status == 403:
        help_text = TOKEN_HELP if endpoint.scope == "customers:read" else ""
        return ScopeError(
            f"{where} accepted the access token but it lacks the {endpoint.scope} scope (403). "
            f"{help_text + ' ' if help_text else ''}Put a token with that scope in POLAR_ACCESS_TOKEN and "
            "restart the MCP server.",
            status_code=status,
        )
    if status == 404:
        if endpoint.not_found is not None:
            return not_found_error(settings, endpoint.not_found, status_code=status)
        version = settings.api_version or "unset"
        return NotFound(
            f"{where} answered 404 Not Found for {endpoint.path}. Check POLAR_SERVER_URL (it should be "
            f"the API root, e.g. https://api.polar.sh) and POLAR_API_VERSION (now {version}; "
            "known values are 2026-04 and 2026-10).",
            status_code=status,
        )
    if status == 422:
        details = _validation_details(response, body, settings.access_token)
        return InvalidRequest(
            f"Polar rejected the request (422): {details}. Fix these arguments and call the tool again.",
            status_code=status,
        )
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        wait = f"in {retry_after:.0f} seconds" if retry_after is not None else "in about a minute"
        return RateLimited(
            f"{where} is rate limiting this organization (429; the limit is shared by all its tokens). "
            f"Retry {wait}, and prefer fewer, larger requests (list_customers limit up to 100).",
            retry_after=retry_after,
        )
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    if status >= 500:
        return UpstreamError(
            f"{where} failed with {status} {reason}{tries}. This is on Polar's side; try again in a minute.",
            status_code=status,
        )
    return UpstreamError(
        f"{where} answered with unexpected status {status} {reason}. "
        "Check POLAR_SERVER_URL; if it is right, report this to the polar-mcp maintainers.",
        status_code=status,
    )


def not_found_error(settings: Settings, what: str, *, status_code: int | None = None) -> NotFound:
    """A lookup that found nothing: say what was looked for, where, and how to search instead."""
    return NotFound(
        f"In {settings.environment_label}, {what}. list_customers with query finds customers by part of "
        "their name, email or external ID.",
        status_code=status_code,
    )


def error_for_transport(exc: httpx.HTTPError, settings: Settings, attempts: int) -> PolarError:
    """Map an httpx failure (no response at all) to `PolarUnreachable`, without echoing its text."""
    where = settings.environment_label
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    if isinstance(exc, httpx.PoolTimeout):
        return PolarUnreachable(
            f"polar-mcp already has {MAX_CONNECTIONS} requests to Polar under way, the most it runs at once, "
            f"and none finished within {_pool_wait(settings):g} seconds. Try again in a few seconds."
        )
    if isinstance(exc, httpx.TimeoutException):
        return timed_out(settings, attempts)
    return PolarUnreachable(
        f"Could not connect to {where}{tries}: {type(exc).__name__}. "
        "Check the network connection and POLAR_SERVER_URL, then try again."
    )


def timed_out(settings: Settings, attempts: int, seconds: float | None = None) -> PolarUnreachable:
    """The error for an attempt (or the last of several) that ran out of time (`seconds`, by default
    `POLAR_TIMEOUT`)."""
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    limit = settings.timeout if seconds is None else seconds
    return PolarUnreachable(
        f"{settings.environment_label} did not answer within {limit:g} seconds{tries}. "
        "Try again shortly; on a slow link raise POLAR_TIMEOUT."
    )


def _pool_wait(settings: Settings) -> float:
    # Shorter than the attempt's deadline, so that a full pool is told apart from a slow Polar.
    return min(POOL_WAIT, settings.timeout / 2)


def _validation_details(response: httpx.Response, body: bytes | None, token: str | None) -> str:
    """Polar's own words for each rejected parameter, cleaned, redacted and bounded."""
    try:
        payload = json.loads(response.content if body is None else body)
        detail = payload.get("detail")
    except (ValueError, AttributeError, RecursionError, httpx.ResponseNotRead):
        return "no details given"
    if not detail:
        return "no details given"
    text = str(detail)[: DETAIL_LIMIT * 2]
    if isinstance(detail, list):
        parts = []
        for item in detail[:20]:
            if not isinstance(item, dict):
                continue
            loc = item.get("loc")
            where = loc if isinstance(loc, list) else [] if loc is None else [loc]
            names = [str(part)[:100] for part in where[:10] if part != "query"]
            parts.append(f"{'.'.join(names) or 'request'}: {str(item.get('msg', 'invalid'))[:DETAIL_LIMIT]}")
        if parts:
            text = "; ".join(parts)
    return relay(text, token, DETAIL_LIMIT)


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
    level 1). Walks one level at a time, picking each container's containers in C (`compress` over
    the values' types), so the many scalars of a page cost almost nothing."""
    level = [value] if type(value) in _CONTAINERS else []
    depth = 1
    while level:
        if depth >= limit:
            return any(level)  # a non-empty container at the last level holds values one level too deep
        level = list(chain.from_iterable(map(_containers_in, level)))
        depth += 1
    return False


_CONTAINERS = frozenset({dict, list})
_is_container_type = _CONTAINERS.__contains__


def _containers_in(container: dict[str, Any] | list[Any]) -> Iterator[Any]:
    members = container.values() if type(container) is dict else container
    return compress(members, map(_is_container_type, map(type, members)))


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
                timeout=httpx.Timeout(self.settings.timeout, pool=_pool_wait(self.settings)),
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
        sink: ExportSink,
        organization_ids: Sequence[str] = (),
        *,
        max_customers: int | None = None,
    ) -> ExportStats:
        """Stream `GET /v1/customers/export`, handing `sink` the customers in batches as the CSV arrives.

        More than `max_customers` rows stop the download with `SnapshotTooLarge`; malformed rows are
        counted in the returned stats, never fatal. A body that is not the CSV is `InvalidResponse`.
        """
        params = [("organization_id", str(org)) for org in organization_ids]
        parser = ExportParser()
        batch: list[ExportedCustomer] = []
        async with self.stream(EXPORT, params) as response:
            kind = relay(response.headers.get("content-type", ""), None, 80)
            if "json" in kind or "html" in kind:
                raise self._not_csv(f"it sent {kind}")
            try:
                async for chunk in response.aiter_bytes():
                    batch += parser.feed(chunk)
                    self._check_size(parser.stats, max_customers)
                    while len(batch) >= EXPORT_BATCH:
                        await sink(batch[:EXPORT_BATCH])
                        del batch[:EXPORT_BATCH]
                batch += parser.finish()
            except NotCsv as exc:
                raise self._not_csv(str(exc)) from None
            except httpx.HTTPError as exc:
                # The body broke off after a successful status: nothing to retry within this call.
                raise error_for_transport(exc, self.settings, 1) from None
        self._check_size(parser.stats, max_customers)
        if batch:
            await sink(batch)
        return parser.stats

    def _check_size(self, stats: ExportStats, max_customers: int | None) -> None:
        if max_customers is not None and stats.customers > max_customers:
            raise SnapshotTooLarge(
                f"The customer export holds more than {max_customers:,} customers, the most a snapshot "
                "may hold (POLAR_MCP_SNAPSHOT_MAX). Raise POLAR_MCP_SNAPSHOT_MAX in the MCP server's "
                "environment and restart it (50,000 customers take about 30 MB of memory), or count "
                "with list_customers, whose total_count needs no snapshot."
            )

    def _not_csv(self, why: str) -> InvalidResponse:
        return InvalidResponse(
            f"{self.settings.environment_label} answered the customer export, but {why}, not the CSV "
            "export. A proxy or a wrong POLAR_SERVER_URL may be in the way; try again, and check the URL "
            "if it persists."
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
        return clean_value(payload) if json_needs_cleaning(body) else payload

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
        token = self.settings.access_token
        if not token:
            raise ConfigError(f"POLAR_ACCESS_TOKEN is not set, so Polar cannot be queried. {TOKEN_HELP}")
        client = self._client()
        request = client.build_request(
            "GET",
            endpoint.path,
            params=httpx.QueryParams(tuple(params)),
            headers={"Authorization": f"Bearer {token}"},
        )
        attempt_time = self.settings.timeout * endpoint.time_factor
        budget_ends = anyio.current_time() + max(self.call_budget, attempt_time)
        slept = 0.0
        attempt = 0
        while True:
            attempt += 1
            failure: PolarError | None = None
            retry_after: float | None = None
            delivered = False
            with anyio.CancelScope(deadline=min(anyio.current_time() + attempt_time, budget_ends)) as scope:
                try:
                    response = await client.send(request, stream=True)
                except httpx.HTTPError as exc:
                    failure = error_for_transport(exc, self.settings, attempt)
                    logger.warning("Polar request failed (attempt %d): %s", attempt, type(exc).__name__)
                    if isinstance(exc, httpx.PoolTimeout):
                        raise failure from None  # local congestion: another attempt would only add to it
                else:
                    try:
                        if response.is_success:
                            logger.debug("Polar answered %d (attempt %d)", response.status_code, attempt)
                            delivered = True
                            yield response
                        else:
                            body = await self._error_body(response)
                            failure = error_for_response(response, self.settings, attempt, endpoint, body)
                            logger.warning("Polar answered %d (attempt %d)", response.status_code, attempt)
                            if not should_retry(response.status_code):
                                raise failure
                            retry_after = parse_retry_after(response.headers.get("retry-after"))
                    finally:
                        with anyio.CancelScope(shield=True):
                            await response.aclose()
            if scope.cancelled_caught:
                logger.warning("Polar attempt %d ran out of time", attempt)
                failure = timed_out(self.settings, attempt, attempt_time)
                if delivered:
                    raise failure
            if delivered:
                return
            assert failure is not None
            if attempt >= self._max_attempts:
                raise failure
            delay = retry_delay(attempt, retry_after, self._jitter())
            if slept + delay > self._retry_budget or anyio.current_time() + delay >= budget_ends:
                # Polar's Retry-After is the whole window (often 60 s): waiting that long inside
                # one tool call would stall the assistant, so tell it when to come back instead.
                raise failure
            await self._sleep(delay)
            slept += delay

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


_NOT_JSON = object()


def _parse_json(body: bytes) -> Any:
    """`json.loads`, through pydantic's faster parser first; what that one refuses (a BOM, UTF-16, a
    lone surrogate escape) gets the standard library's verdict, so what counts as JSON is unchanged."""
    try:
        return pydantic_core.from_json(body, cache_strings="keys")
    except ValueError:
        return json.loads(body)
