"""The retry policy and the time budget of one call to Polar: pure functions and named constants."""

from __future__ import annotations

import math
import time
from email.utils import parsedate_to_datetime

from polar_mcp.config import Settings

__all__ = [
    "CALL_BUDGET_CAP",
    "MAX_ATTEMPTS",
    "MAX_CONNECTIONS",
    "RETRY_BUDGET",
    "call_budget",
    "parse_retry_after",
    "pool_wait",
    "retry_delay",
    "should_retry",
]

MAX_ATTEMPTS = 3
RETRY_BUDGET = 10.0  # seconds of sleeping allowed across all retries of one call
# A whole call, attempts and waits included, ends within this unless POLAR_TIMEOUT alone is longer:
# MCP clients commonly give up on a request after 60 s.
CALL_BUDGET_CAP = 55.0
BACKOFF_BASE = 0.5
BACKOFF_CAP = 4.0
MAX_RETRY_AFTER = 3600.0  # a longer or non-finite Retry-After is read as this
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


def pool_wait(settings: Settings) -> float:
    """Seconds a request waits for a free connection: shorter than an attempt, to tell the two apart."""
    # Shorter than the attempt's deadline, so that a full pool is told apart from a slow Polar.
    return min(POOL_WAIT, settings.timeout / 2)
