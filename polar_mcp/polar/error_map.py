"""The one map from a failed answer or an httpx failure to the error that tells the assistant what to do."""

from __future__ import annotations

import json

import httpx

from polar_mcp.config import TOKEN_HELP, Settings
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
from polar_mcp.polar.endpoints import CUSTOMERS, Endpoint
from polar_mcp.polar.retry import MAX_CONNECTIONS, parse_retry_after, pool_wait
from polar_mcp.sanitize import relay

__all__ = ["DETAIL_LIMIT", "error_for_response", "error_for_transport", "not_found_error", "timed_out"]

REASON_LIMIT = 60  # characters of an upstream reason phrase relayed
DETAIL_LIMIT = 500  # characters of Polar's 422 details relayed


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
