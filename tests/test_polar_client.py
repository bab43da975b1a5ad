"""Retry policy, the status-to-error map, and each upstream failure as the assistant sees it."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from polar_mcp import errors
from polar_mcp.config import Settings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar, Fault, Grant
from polar_mcp.polar.client import PolarClient
from polar_mcp.polar.error_map import error_for_response, error_for_transport
from polar_mcp.polar.query import CustomerQuery
from polar_mcp.polar.retry import call_budget, parse_retry_after, retry_delay, should_retry
from tests.conftest import TOOL_NAMES, make_server
from tests.helpers import text_of

SETTINGS = Settings(access_token=DEFAULT_TOKEN)


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (200, False),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (422, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
    ],
)
def test_should_retry_only_rate_limits_and_server_faults(status: int, retry: bool) -> None:
    assert should_retry(status) is retry


@pytest.mark.parametrize(
    ("attempt", "retry_after", "jitter", "expected"),
    [
        (1, None, 0.0, 0.25),  # half of the 0.5 s base at the lowest jitter
        (1, None, 1.0, 0.5),
        (2, None, 0.5, 0.75),  # 1 s backoff, jitter factor 0.75
        (3, None, 0.0, 1.0),
        (10, None, 1.0, 4.0),  # capped
        (1, 3.0, 0.9, 3.0),  # Retry-After wins over backoff
        (1, 0.0, 0.5, 0.0),
    ],
)
def test_retry_delay_backs_off_with_jitter_and_honours_retry_after(
    attempt: int, retry_after: float | None, jitter: float, expected: float
) -> None:
    assert retry_delay(attempt, retry_after, jitter) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("60", 60.0),
        ("2.5", 2.5),
        ("-3", 0.0),
        ("soon", None),
        ("Wed, 25 Nov 2026 00:01:00 GMT", 60.0),
    ],
)
def test_parse_retry_after_reads_seconds_and_dates(header: str | None, expected: float | None) -> None:
    now = 1795564800.0  # Wed, 25 Nov 2026 00:00:00 GMT
    assert parse_retry_after(header, now=now) == expected


# Each row: response status, body, and the error class it must map to.
STATUS_MAP: list[tuple[int, object, type[errors.PolarError]]] = [
    (401, {"error": "invalid_token", "error_description": "x"}, errors.AuthError),
    (401, {"error": "Unauthorized", "detail": "Not authenticated"}, errors.AuthError),
    (403, {"error": "insufficient_scope"}, errors.ScopeError),
    (404, {"detail": "Not Found"}, errors.NotFound),
    (422, {"detail": [{"loc": ["query", "page"], "msg": "bad", "type": "x"}]}, errors.InvalidRequest),
    (429, None, errors.RateLimited),
    (500, "Internal Server Error", errors.UpstreamError),
    (502, "<html>Bad Gateway</html>", errors.UpstreamError),
    (503, None, errors.UpstreamError),
    (504, None, errors.UpstreamError),
    (400, {"detail": "?"}, errors.UpstreamError),
    (307, None, errors.UpstreamError),
]


@pytest.mark.parametrize(("status", "body", "kind"), STATUS_MAP)
def test_every_status_maps_to_one_error_class(status: int, body: Any, kind: type[errors.PolarError]) -> None:
    response = (
        httpx.Response(status, json=body) if isinstance(body, dict) else httpx.Response(status, text=body)
    )
    error = error_for_response(response, SETTINGS)
    assert type(error) is kind
    assert isinstance(error, errors.PolarError) and isinstance(error, errors.PolarMCPError)
    assert str(error)


@pytest.mark.parametrize(
    ("exc", "needle"),
    [
        (httpx.ConnectTimeout("t"), "did not answer within 30 seconds"),
        (httpx.ReadTimeout("t"), "did not answer within 30 seconds"),
        (httpx.ConnectError("refused"), "Could not connect"),
        (httpx.RemoteProtocolError("eof"), "Could not connect"),
        (httpx.ReadError("reset"), "Could not connect"),
    ],
)
def test_transport_failures_map_to_unreachable(exc: httpx.HTTPError, needle: str) -> None:
    error = error_for_transport(exc, SETTINGS, attempts=3)
    assert type(error) is errors.PolarUnreachable
    assert needle in str(error) and "3 attempts" in str(error)


async def call_with(fake: FakePolar, sleeps: list[float] | None = None, **settings: Any) -> Any:
    server = make_server(fake, sleeps=sleeps, **settings)
    with anyio.fail_after(10):
        async with Client(server) as client:
            return await client.call_tool("list_customers", {"limit": 5})


# Each row: faults injected, what the error text must say, how many requests Polar sees.
FAILURES = [
    (
        "invalid token",
        [Fault(401, {"error": "invalid_token", "error_description": "bad"})],
        ["rejected the access token (401)", "POLAR_SERVER=sandbox", "Polar production"],
        1,
    ),
    ("missing scope", [Fault(403, {"error": "insufficient_scope"})], ["customers:read", "(403)"], 1),
    ("not found", [Fault(404, {"detail": "Not Found"})], ["404", "POLAR_SERVER_URL", "POLAR_API_VERSION"], 1),
    (
        "validation",
        [
            Fault(
                422,
                {
                    "error": "RequestValidationError",
                    "detail": [
                        {
                            "loc": ["query", "limit"],
                            "msg": "Input should be greater than 0",
                            "type": "greater_than",
                        },
                        {"loc": ["query", "metadata", "plan"], "msg": "Invalid", "type": "x"},
                    ],
                },
            )
        ],
        ["limit: Input should be greater than 0", "metadata.plan: Invalid", "(422)"],
        1,
    ),
    (
        "rate limit window beyond the budget",
        [Fault(429, None, {"Retry-After": "60"})],
        ["rate limiting", "Retry in 60 seconds"],
        1,
    ),
    (
        "server errors on every attempt",
        [Fault(503, "<html>unavailable</html>")] * 3,
        ["503 Service Unavailable after 3 attempts", "try again"],
        3,
    ),
    (
        "timeouts on every attempt",
        [Fault(error=httpx.ReadTimeout)] * 3,
        ["did not answer within", "(3 attempts)"],
        3,
    ),
    (
        "connection refused on every attempt",
        [Fault(error=httpx.ConnectError)] * 3,
        ["Could not connect", "POLAR_SERVER_URL"],
        3,
    ),
    ("200 with html", [Fault(200, "<html>login</html>", {"content-type": "text/html"})], ["not JSON"], 1),
    ("200 with the wrong json", [Fault(200, {"data": []})], ["not a customer page", "items"], 1),
    (
        "200 with items not objects",
        [Fault(200, {"items": [1, 2], "pagination": {"total_count": 2, "max_page": 1}})],
        ["not a customer page"],
        1,
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "faults", "needles", "requests"), FAILURES, ids=[row[0] for row in FAILURES]
)
async def test_upstream_failures_become_actionable_tool_errors(
    fake: FakePolar, name: str, faults: list[Fault], needles: list[str], requests: int
) -> None:
    fake.fail_next(*faults)
    result = await call_with(fake)
    assert result.is_error
    text = text_of(result)
    for needle in needles:
        assert needle in text
    assert "Traceback" not in text and DEFAULT_TOKEN not in text
    assert len(fake.requests) == requests


@pytest.mark.anyio
@pytest.mark.parametrize(
    "faults",
    [
        [Fault(500)],
        [Fault(502), Fault(504)],
        [Fault(error=httpx.ConnectError)],
        [Fault(error=httpx.ReadTimeout), Fault(503)],
        [Fault(429, None, {"Retry-After": "2"})],
    ],
)
async def test_transient_failures_are_retried_then_succeed(fake: FakePolar, faults: list[Fault]) -> None:
    sleeps: list[float] = []
    fake.fail_next(*faults)
    result = await call_with(fake, sleeps=sleeps)
    assert not result.is_error, text_of(result)
    assert len(fake.requests) == len(faults) + 1
    assert len(sleeps) == len(faults)


@pytest.mark.anyio
async def test_rate_limit_sleeps_no_longer_than_the_budget(fake: FakePolar) -> None:
    sleeps: list[float] = []
    fake.fail_next(Fault(429, None, {"Retry-After": "6"}), Fault(429, None, {"Retry-After": "6"}))
    result = await call_with(fake, sleeps=sleeps)
    assert result.is_error and "Retry in 6 seconds" in text_of(result)
    assert sleeps == [6.0]  # a second 6 s wait would pass the 10 s budget


@pytest.mark.anyio
async def test_wrong_token_and_wrong_scope_come_from_the_fake_itself(customers: list[dict[str, Any]]) -> None:
    org = customers[0]["organization_id"]
    fake = FakePolar(customers, tokens={"polar_oat_noscope": Grant(org, frozenset({"orders:read"}))})
    denied = await call_with(fake)
    assert "rejected the access token (401)" in text_of(denied)
    scoped = make_server(fake, token="polar_oat_noscope")
    async with Client(scoped) as client:
        result = await client.call_tool("list_customers", {})
    assert "lacks the customers:read scope" in text_of(result)


@pytest.mark.anyio
async def test_sandbox_auth_error_suggests_production(fake: FakePolar) -> None:
    fake.fail_next(Fault(401, {"error": "invalid_token"}))
    result = await call_with(fake, environment="sandbox", server_url="https://sandbox-api.polar.sh")
    assert "Polar sandbox (https://sandbox-api.polar.sh)" in text_of(result)
    assert "POLAR_SERVER=production" in text_of(result)


@pytest.mark.anyio
async def test_missing_token_says_which_variable_and_where_to_create_one(fake: FakePolar) -> None:
    server = make_server(fake, token=None)
    async with Client(server) as client:
        assert [t.name for t in (await client.list_tools()).tools] == TOOL_NAMES
        result = await client.call_tool("list_customers", {})
    assert result.is_error
    assert "POLAR_ACCESS_TOKEN" in text_of(result) and "Organization Access Token" in text_of(result)
    assert "customers:read" in text_of(result)
    assert fake.requests == []


@pytest.mark.anyio
async def test_client_follows_no_redirects_and_uses_the_trailing_slash(fake: FakePolar) -> None:
    client = PolarClient(SETTINGS, transport=httpx.MockTransport(fake))
    page = await client.list_customers(CustomerQuery(limit=3))
    await client.aclose()
    assert len(page.items) == 3
    assert str(fake.requests[0].url).startswith("https://api.polar.sh/v1/customers/?")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("inf", 3600.0),
        ("-inf", 0.0),
        ("nan", None),
        ("1e30", 3600.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", 3600.0),
    ],
)
def test_parse_retry_after_never_gives_an_unbounded_or_unreadable_wait(
    header: str, expected: float | None
) -> None:
    assert parse_retry_after(header, now=1795564800.0) == expected


@pytest.mark.anyio
async def test_retry_after_infinity_is_told_as_a_bounded_wait(fake: FakePolar) -> None:
    fake.fail_next(Fault(429, None, {"Retry-After": "inf"}))
    result = await call_with(fake)
    assert "Retry in 3600 seconds" in text_of(result) and "inf" not in text_of(result)


@pytest.mark.parametrize(
    ("timeout", "budget"),
    [(2.0, 16.0), (0.5, 11.5), (30.0, 55.0), (120.0, 120.0)],
)
def test_call_budget_covers_attempts_and_waits_within_the_cap(timeout: float, budget: float) -> None:
    assert call_budget(timeout) == budget


def test_pool_exhaustion_has_its_own_message() -> None:
    error = error_for_transport(httpx.PoolTimeout("full"), SETTINGS, attempts=1)
    assert "requests to Polar under way" in str(error) and "did not answer" not in str(error)
