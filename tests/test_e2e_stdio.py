"""End to end: `polar-mcp` as a subprocess over stdio, a real MCP client, the fake Polar over real HTTP."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from polar_mcp.cli import TERMINAL_HINT
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar
from tests.conftest import TOOL_NAMES
from tests.helpers import text_of

pytestmark = pytest.mark.anyio

CONSOLE_SCRIPT = Path(sys.executable).with_name("polar-mcp")


def spawn(base_url: str, *, token: str | None = DEFAULT_TOKEN, script: bool = True) -> StdioServerParameters:
    env = {"POLAR_SERVER_URL": base_url, "POLAR_MCP_LOG_LEVEL": "DEBUG"}
    if token:
        env["POLAR_ACCESS_TOKEN"] = token
    if script and CONSOLE_SCRIPT.exists():
        return StdioServerParameters(command=str(CONSOLE_SCRIPT), env=env)
    return StdioServerParameters(command=sys.executable, args=["-m", "polar_mcp"], env=env)


@pytest.mark.parametrize("script", [True, False], ids=["console-script", "python-m"])
async def test_pages_through_every_customer_over_stdio(
    fake_over_http: str, fake: FakePolar, customers: list[dict[str, Any]], script: bool
) -> None:
    seen: list[str] = []
    with anyio.fail_after(60):
        async with Client(spawn(fake_over_http, script=script)) as client:
            tools = await client.list_tools()
            assert [tool.name for tool in tools.tools] == TOOL_NAMES
            page: int | None = 1
            while page is not None:
                result = await client.call_tool("list_customers", {"page": page, "limit": 50})
                assert not result.is_error, result.content
                seen.extend(c["id"] for c in result.structured_content["customers"])
                page = result.structured_content["next_page"]
            bad = await client.call_tool("list_customers", {"limit": 500})
            after = await client.call_tool("list_customers", {"query": "ada", "limit": 5})
    assert sorted(seen) == sorted(c["id"] for c in customers)
    assert bad.is_error and "limit" in text_of(bad)
    assert not after.is_error
    assert fake.queries[:3] == ["page=1&limit=50", "page=2&limit=50", "page=3&limit=50"]


async def test_starts_and_explains_a_missing_token(fake_over_http: str, fake: FakePolar) -> None:
    with anyio.fail_after(60):
        async with Client(spawn(fake_over_http, token=None)) as client:
            assert [tool.name for tool in (await client.list_tools()).tools] == TOOL_NAMES
            result = await client.call_tool("list_customers", {})
    assert result.is_error and "POLAR_ACCESS_TOKEN" in text_of(result)
    assert fake.requests == []


async def test_wrong_token_is_a_clear_401_error_over_real_http(fake_over_http: str) -> None:
    with anyio.fail_after(60):
        async with Client(spawn(fake_over_http, token="polar_oat_wrong_environment")) as client:
            result = await client.call_tool("list_customers", {})
    assert result.is_error
    assert "rejected the access token (401)" in text_of(result)
    assert "polar_oat_wrong_environment" not in text_of(result)


def test_stdout_carries_only_protocol_messages_even_at_debug(fake_over_http: str) -> None:
    import json
    import subprocess
    import tempfile
    import threading

    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "list_customers", "arguments": {"limit": 3}},
        },
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {"name": "list_customers", "arguments": {"limit": 0}},
        },
    ]
    env = {
        "POLAR_SERVER_URL": fake_over_http,
        "POLAR_ACCESS_TOKEN": DEFAULT_TOKEN,
        "POLAR_MCP_LOG_LEVEL": "DEBUG",
        "PATH": "/usr/bin:/bin",
    }
    with tempfile.TemporaryFile("w+") as log:  # a file, so DEBUG logs can never fill a pipe and stall
        process = subprocess.Popen(
            [sys.executable, "-m", "polar_mcp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
        watchdog = threading.Timer(60, process.kill)  # bounds every blocking read below
        watchdog.start()
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
            process.stdin.flush()
            # Keep stdin open until all four answers are in: end of input stops the server.
            lines = [process.stdout.readline() for _ in range(4)]
            process.stdin.close()
            lines.append(process.stdout.read())
            process.stdout.close()
            process.wait()
        finally:
            watchdog.cancel()
        log.seek(0)
        stderr = log.read()
    stdout = "".join(lines)
    # Every line must be JSON; calls are served concurrently, so answers may come in any order.
    replies = sorted((json.loads(line) for line in stdout.splitlines()), key=lambda reply: reply["id"])
    assert [reply["id"] for reply in replies] == [1, 2, 3, 4]
    assert all(reply["jsonrpc"] == "2.0" for reply in replies)
    assert replies[2].get("result", {}).get("isError") is False, replies[2]
    assert replies[3]["result"]["isError"] is True
    assert "Polar answered 200" in stderr  # the logs went to stderr
    assert TERMINAL_HINT not in stderr  # a client on a pipe gets no hint meant for a person
    assert DEFAULT_TOKEN not in stdout + stderr


async def test_gets_one_customer_over_stdio_by_each_identifier(fake_over_http: str, fake: FakePolar) -> None:
    # Over real HTTP the awkward external ID must still arrive as one percent-encoded path segment.
    customer = next(c for c in fake.customers if c["email"] and fake.holdings[c["id"]]["granted_benefits"])
    customer["external_id"] = "a/b c?d#é"
    with anyio.fail_after(60):
        async with Client(spawn(fake_over_http)) as client:
            results = [
                await client.call_tool("get_customer", {"id": customer["id"]}),
                await client.call_tool("get_customer", {"external_id": "a/b c?d#é"}),
                await client.call_tool("get_customer", {"email": customer["email"]}),
            ]
            bad = await client.call_tool("get_customer", {"id": "not-a-uuid"})
    for result in results:
        assert not result.is_error, result.content
        assert result.structured_content["customer"]["id"] == customer["id"]
        assert result.structured_content["benefits"]
    assert results[0].structured_content == results[1].structured_content == results[2].structured_content
    assert "/v1/customers/external/a%2Fb%20c%3Fd%23%C3%A9/state" in [
        r.url.raw_path.decode() for r in fake.requests
    ]
    assert bad.is_error and "Nothing was sent to Polar" in text_of(bad)
