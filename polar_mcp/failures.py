"""What goes wrong talking to Polar: the retry policy, the call's time budget, and the one map from a
failed answer or an httpx failure to the error that tells the assistant what to do."""

from __future__ import annotations

import json
import math
import time
from email.utils import parsedate_to_datetime

import httpx

from polar_mcp.config import TOKEN_HELP, Settings
from polar_mcp.endpoints import CUSTOMERS, Endpoint
from polar_mcp.errors import (
    AuthError,
    InvalidRequest,
    NotFound,
    PolarError,
    PolarUnreachable,
    RateLimited,
    ScopeError,
    UpstreamError,
)
from polar_mcp.text import relay

__all__ = [
    "CALL_BUDGET_CAP",
    "MAX_ATTEMPTS",
    "MAX_CONNECTIONS",
    "RETRY_BUDGET",
    "call_budget",
    "error_for_response",
    "error_for_transport",
    "not_found_error",
    "parse_retry_after",
    "pool_wait",
    "retry_delay",
    "should_retry",
    "timed_out",
]

MAX_ATTEMPTS = 3
RETRY_BUDGET = 10.0  # seconds of sleeping allowed across all retries of one call
# A whole call, attempts and waits included, ends within this unless POLAR_TIMEOUT alone is longer:
# MCP clients commonly give up on a request after 60 s.
CALL_BUDGET_CAP = 55.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 4.0
MAX_RETRY_AFTER = 3600.0  # a longer or non-finite Retry-After is read as this
REASON_LIMIT = 60  # characters of an upstream reason phrase relayed
DETAIL_LIMIT = 500  # characters of Polar's 422 details relayed
MAX_CONNECTIONS = 100  # requests to Polar under way at once, across all calls of this process
POOL_WAIT = 5.0  # seconds a request waits for a free connection before the call gives up


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
            f"and none finished within {pool_wait(settings):g} seconds. Try again in a few seconds."
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


def pool_wait(settings: Settings) -> float:
    """Seconds a request waits for a free connection: shorter than an attempt, to tell the two apart."""
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
