"""What the test modules share: calling a tool through a real MCP client and reading what the model
reads, a Polar client wired to a fake, and the organizations and protocol modes the tests use."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

import anyio
import httpx
from mcp import Client
from mcp_types import CallToolResult, TextContent

from polar_mcp.config import Settings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar
from polar_mcp.demo.organization import DEMO_ORGANIZATION_ID
from polar_mcp.polar.client import PolarClient
from polar_mcp.server import PolarMCPServer

__all__ = [
    "CALL_SECONDS",
    "MODES",
    "ORG",
    "OTHER_ORG",
    "Caller",
    "call",
    "caller",
    "client_for",
    "json_digest",
    "no_sleep",
    "text_of",
]

ORG = DEMO_ORGANIZATION_ID
"""The sample organization's ID: every customer of `sample_customers` and of demo mode belongs to it."""
OTHER_ORG = "0b8e1d0a-4f7c-4a53-9d5e-3f2f4d9b6c11"
"""An organization no sample customer belongs to."""
MODES = ["auto", "legacy"]
"""The client's protocol modes: discovery with a fallback to the handshake, and the handshake alone."""
CALL_SECONDS = 10.0
"""How long one tool call through `call` may take before the test fails."""


async def no_sleep(_: float) -> None:
    """A Polar client's `sleep` that does not: retries follow one another at once."""


async def call(
    server: PolarMCPServer,
    tool: str,
    arguments: dict[str, Any],
    *,
    mode: str = "auto",
    seconds: float = CALL_SECONDS,
) -> CallToolResult:
    """Call `tool` on `server` through a real MCP client connected in `mode`, within `seconds`."""
    with anyio.fail_after(seconds):
        async with Client(server, mode=mode) as client:
            return await client.call_tool(tool, arguments)


class Caller(Protocol):
    """`call` for one tool: `await call(server, arguments)`, or with a `mode` for this call only."""

    async def __call__(
        self, server: PolarMCPServer, arguments: dict[str, Any], mode: str | None = None
    ) -> CallToolResult: ...


def caller(tool: str, *, mode: str = "auto", seconds: float = CALL_SECONDS) -> Caller:
    """`call` with its tool, its default mode and its time bound given, for a module about one tool."""
    default_mode = mode

    async def call_one(
        server: PolarMCPServer, arguments: dict[str, Any], mode: str | None = None
    ) -> CallToolResult:
        return await call(server, tool, arguments, mode=mode or default_mode, seconds=seconds)

    return call_one


def text_of(result: CallToolResult) -> str:
    """The text the model reads: every content block, each of which must be text."""
    texts: list[str] = []
    for block in result.content:
        assert isinstance(block, TextContent), f"a {block.type} block where only text was expected"
        texts.append(block.text)
    return "\n".join(texts)


def client_for(
    polar: FakePolar | httpx.AsyncBaseTransport, *, token: str | None = DEFAULT_TOKEN, **settings: Any
) -> PolarClient:
    """A Polar client on `polar` (a fake, or any transport in front of one) whose retries follow one
    another at once, with a fixed jitter; `settings` are further `Settings` fields."""
    transport = polar if isinstance(polar, httpx.AsyncBaseTransport) else httpx.MockTransport(polar)
    return PolarClient(
        Settings(access_token=token, **settings), transport=transport, sleep=no_sleep, jitter=lambda: 0.5
    )


def json_digest(document: Any) -> str:
    """The SHA-256 of a JSON document's content, whatever its layout: keys sorted, no spaces, UTF-8."""
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
