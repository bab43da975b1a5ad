"""The access token never reaches tool output, error text or logs, even at DEBUG."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from mcp import Client

from polar_mcp.config import Settings
from polar_mcp.demo.fake import FakePolar, Fault, Grant
from polar_mcp.polar.client import PolarClient
from polar_mcp.server import build_server
from tests.helpers import no_sleep

pytestmark = pytest.mark.anyio

SECRET = "polar_oat_Sup3rS3cretTok3nValue"


@pytest.mark.parametrize(
    "faults",
    [
        [],
        [Fault(401, {"error": "invalid_token"})],
        [Fault(403, {"error": "insufficient_scope"})],
        [Fault(422, {"detail": [{"loc": ["query", "x"], "msg": SECRET, "type": "x"}]})],
        [Fault(429, None, {"Retry-After": "60"})],
        [Fault(500)] * 3,
        [Fault(error=httpx.ConnectError)] * 3,
        [Fault(200, "not json")],
    ],
)
async def test_token_never_appears_in_results_or_debug_logs(
    customers: list[dict[str, Any]], faults: list[Fault], caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakePolar(customers, tokens={SECRET: Grant(customers[0]["organization_id"])})
    fake.fail_next(*faults)
    settings = Settings(access_token=SECRET)

    server = build_server(
        settings, client=PolarClient(settings, transport=httpx.MockTransport(fake), sleep=no_sleep)
    )
    caplog.set_level(logging.DEBUG)
    async with Client(server, mode="legacy") as client:
        tools = await client.list_tools()
        ok_or_error = await client.call_tool("list_customers", {"limit": 3})
        bad = await client.call_tool("list_customers", {"limit": 0, "access_token": SECRET})
    assert fake.requests, "the fake must have been called with the token"
    assert fake.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    everything = [
        tools.model_dump_json(),
        ok_or_error.model_dump_json(),
        bad.model_dump_json(),
        caplog.text,
        *(repr(record.args) for record in caplog.records),
    ]
    for text in everything:
        assert SECRET not in text
