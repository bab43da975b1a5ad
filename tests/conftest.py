"""Shared fixtures: a clean environment, the fake Polar, and servers built against it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from polar_mcp.config import Settings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar, asgi_app
from polar_mcp.demo.organization import sample_customers
from polar_mcp.polar.client import PolarClient
from polar_mcp.server import PolarMCPServer, build_server
from polar_mcp.tools import TOOLS

DATA = Path(__file__).parent / "data"
OPENAPI = json.loads((DATA / "customers-list.openapi.json").read_text())
TOOL_NAMES = [tool.name for tool in TOOLS]


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may read a real token or a developer's settings."""
    import os

    for name in list(os.environ):
        if name.startswith(("POLAR_", "POLAR_MCP_")):
            monkeypatch.delenv(name)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def customers() -> list[dict[str, Any]]:
    return sample_customers(123, seed=7)


@pytest.fixture
def fake(customers: list[dict[str, Any]]) -> FakePolar:
    return FakePolar(customers)


def make_server(
    fake: FakePolar,
    *,
    token: str | None = DEFAULT_TOKEN,
    sleeps: list[float] | None = None,
    time_limit: float | None = None,
    query_clock: Callable[[], float] | None = None,
    **settings: Any,
) -> PolarMCPServer:
    """A server wired to `fake` that records retry sleeps instead of sleeping; `time_limit` and
    `query_clock`, when given, replace its snapshots' time limit on a statement and the clock it is
    measured on."""
    config = Settings(access_token=token, **settings)

    async def record(delay: float) -> None:
        if sleeps is not None:
            sleeps.append(delay)

    client = PolarClient(config, transport=httpx.MockTransport(fake), sleep=record, jitter=lambda: 0.5)
    server = build_server(config, client=client)
    store = server.context.snapshots
    if time_limit is not None:
        store.time_limit = time_limit
    if query_clock is not None:
        store.query_clock = query_clock
    return server


@pytest.fixture
def server(fake: FakePolar) -> PolarMCPServer:
    return make_server(fake)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fake_over_http(fake: FakePolar) -> Iterator[str]:
    """Serve the fake on a real 127.0.0.1 port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(asgi_app(fake), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    http_server = uvicorn.Server(config)
    thread = threading.Thread(target=http_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not http_server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the fake Polar did not start within 10 s")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        http_server.should_exit = True
        thread.join(timeout=10)
