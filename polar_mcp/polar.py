"""The Polar API client: one request path for every endpoint, retries in a time budget, one error map."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote

import anyio
import httpx

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
    UpstreamError,
)
from polar_mcp.models import ApiCustomerPage, ApiProductPage, parse_customer_state, parse_page, parse_products
from polar_mcp.query import CustomerQuery

__all__ = [
    "CUSTOMERS",
    "MAX_ATTEMPTS",
    "PRODUCTS",
    "RETRY_BUDGET",
    "Endpoint",
    "PolarClient",
    "customer_state_endpoint",
    "error_for_response",
    "error_for_transport",
    "parse_retry_after",
    "retry_delay",
    "should_retry",
]

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RETRY_BUDGET = 10.0  # seconds of sleeping allowed across all retries of one call
BACKOFF_BASE = 0.5
BACKOFF_CAP = 4.0
MAX_PRODUCT_IDS = 100  # one page of the product list

Sleep = Callable[[float], Awaitable[None]]
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


# The trailing slashes matter: without them Polar answers 307.
CUSTOMERS = Endpoint("/v1/customers/")
PRODUCTS = Endpoint("/v1/products/", scope="products:read")


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
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    seconds: float = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds)


def error_for_response(
    response: httpx.Response, settings: Settings, attempts: int = 1, endpoint: Endpoint = CUSTOMERS
) -> PolarError:
    """Map a non-2xx response to the error that tells the assistant what to do."""
    status = response.status_code
    where = settings.environment_label
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
            return NotFound(
                f"In {where}, {endpoint.not_found}. list_customers with query finds customers by part of "
                "their name, email or external ID.",
                status_code=status,
            )
        version = settings.api_version or "unset"
        return NotFound(
            f"{where} answered 404 Not Found for {endpoint.path}. Check POLAR_SERVER_URL (it should be "
            f"the API root, e.g. https://api.polar.sh) and POLAR_API_VERSION (now {version}; "
            "known values are 2026-04 and 2026-10).",
            status_code=status,
        )
    if status == 422:
        return InvalidRequest(
            f"Polar rejected the request (422): {_validation_details(response, settings.access_token)}. "
            "Fix these arguments and call the tool again.",
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
            f"{where} failed with {status} {response.reason_phrase}{tries}. "
            "This is on Polar's side; try again in a minute.",
            status_code=status,
        )
    return UpstreamError(
        f"{where} answered with unexpected status {status} {response.reason_phrase}. "
        "Check POLAR_SERVER_URL; if it is right, report this to the polar-mcp maintainers.",
        status_code=status,
    )


def error_for_transport(exc: httpx.HTTPError, settings: Settings, attempts: int) -> PolarError:
    """Map an httpx failure (no response at all) to `PolarUnreachable`, without echoing its text."""
    where = settings.environment_label
    tries = f" ({attempts} attempts)" if attempts > 1 else ""
    if isinstance(exc, httpx.TimeoutException):
        return PolarUnreachable(
            f"{where} did not answer within {settings.timeout:g} seconds{tries}. "
            "Try again shortly; on a slow link raise POLAR_TIMEOUT."
        )
    return PolarUnreachable(
        f"Could not connect to {where}{tries}: {type(exc).__name__}. "
        "Check the network connection and POLAR_SERVER_URL, then try again."
    )


def _validation_details(response: httpx.Response, token: str | None) -> str:
    """Polar's own words for each rejected parameter; the only upstream text we relay, so redacted."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return "no details given"
    text = str(detail)[:300] if detail else "no details given"
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if not isinstance(item, dict):
                continue
            loc = [str(p) for p in item.get("loc", []) if p != "query"]
            parts.append(f"{'.'.join(loc) or 'request'}: {item.get('msg', 'invalid')}")
        if parts:
            text = "; ".join(parts)
    return text.replace(token, "[redacted]") if token else text


class PolarClient:
    """Async client for the Polar endpoints the tools need; share one per process."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = anyio.sleep,
        jitter: Callable[[], float] = random.random,
        retry_budget: float = RETRY_BUDGET,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.settings = settings
        self._transport = transport
        self._sleep = sleep
        self._jitter = jitter
        self._retry_budget = retry_budget
        self._max_attempts = max_attempts
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        # Created on first use so it binds to the event loop that serves requests.
        if self._http is None:
            headers = {"Accept": "application/json", "User-Agent": f"polar-mcp/{__version__}"}
            if self.settings.api_version:
                headers["Polar-Version"] = self.settings.api_version
            self._http = httpx.AsyncClient(
                base_url=self.settings.server_url,
                headers=headers,
                timeout=self.settings.timeout,
                transport=self._transport,
                follow_redirects=False,
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

    def _parsed(self, parse: Callable[[Any], _Parsed], payload: Any) -> _Parsed:
        try:
            return parse(payload)
        except InvalidResponse as exc:
            raise InvalidResponse(
                f"{self.settings.environment_label} answered but {exc}. "
                "Check POLAR_SERVER_URL and POLAR_API_VERSION; try again if it was a one-off."
            ) from None

    async def _get_json(self, endpoint: Endpoint, params: Sequence[tuple[str, str]]) -> Any:
        async with self.stream(endpoint, params) as response:
            body = await response.aread()
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            kind = response.headers.get("content-type", "unknown content type")
            raise InvalidResponse(
                f"{self.settings.environment_label} answered {response.status_code} with {kind}, not JSON. "
                "A proxy or a wrong POLAR_SERVER_URL may be in the way; try again, and check the URL if it "
                "persists."
            ) from None

    @asynccontextmanager
    async def stream(
        self, endpoint: Endpoint, params: Sequence[tuple[str, str]]
    ) -> AsyncIterator[httpx.Response]:
        """The one request path: GET `endpoint`, retrying within the budget; yields a successful response
        whose body is not read yet, so a caller can stream it. Every failure is a `PolarError`."""
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
        slept = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await client.send(request, stream=True)
            except httpx.HTTPError as exc:
                failure: PolarError = error_for_transport(exc, self.settings, attempt)
                retry_after = None
                logger.warning("Polar request failed (attempt %d): %s", attempt, type(exc).__name__)
            else:
                if response.is_success:
                    logger.debug("Polar answered %d (attempt %d)", response.status_code, attempt)
                    try:
                        yield response
                    finally:
                        await response.aclose()
                    return
                try:
                    await response.aread()
                except httpx.HTTPError:
                    pass  # the status alone decides the error
                finally:
                    await response.aclose()
                failure = error_for_response(response, self.settings, attempt, endpoint)
                logger.warning("Polar answered %d (attempt %d)", response.status_code, attempt)
                if not should_retry(response.status_code):
                    raise failure
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            if attempt >= self._max_attempts:
                raise failure
            delay = retry_delay(attempt, retry_after, self._jitter())
            if slept + delay > self._retry_budget:
                # Polar's Retry-After is the whole window (often 60 s): waiting that long inside
                # one tool call would stall the assistant, so tell it when to come back instead.
                raise failure
            await self._sleep(delay)
            slept += delay
