"""Shared fixtures: a clean environment, the fake Polar, and servers built against it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from polar_mcp.config import Settings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar, Receive, Scope, Send, asgi_app
from polar_mcp.demo.organization import sample_customers
from polar_mcp.polar.client import PolarClient
from polar_mcp.server import PolarMCPServer, build_server
from polar_mcp.tools import TOOLS

DATA = Path(__file__).parent / "data"
OPENAPI = json.loads((DATA / "customers-list.openapi.json").read_text())
TOOL_NAMES = [tool.name for tool in TOOLS]
FakeApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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


class PolarOverHttp:
    """The fake Polar over real HTTP on 127.0.0.1, one server for the whole session in a thread of its
    own; each test hands it its own `FakePolar` (`serve`), so no test sees another's requests or faults."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._app: FakeApp | None = None

    def serve(self, fake: FakePolar) -> str:
        """Answer with `fake` from now on; returns the base URL."""
        self._app = asgi_app(fake)
        return self.url

    def clear(self) -> None:
        self._app = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app
        if app is None:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"no fake Polar is being served"})
            return
        await app(scope, receive, send)


@pytest.fixture(scope="session")
def polar_over_http() -> Iterator[PolarOverHttp]:
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on such sockets; without it small responses wait on Nagle.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    # Listening already: connections made before uvicorn is up wait in the backlog, so no start-up polling.
    sock.listen(128)
    polar = PolarOverHttp(f"http://127.0.0.1:{sock.getsockname()[1]}")
    config = uvicorn.Config(polar, log_level="warning", lifespan="off")
    http_server = uvicorn.Server(config)
    thread = threading.Thread(target=http_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield polar
    finally:
        http_server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def fake_over_http(fake: FakePolar, polar_over_http: PolarOverHttp) -> Iterator[str]:
    """Serve the fake on a real 127.0.0.1 port for this test; yields its base URL."""
    try:
        yield polar_over_http.serve(fake)
    finally:
        polar_over_http.clear()
