"""The HTTP deployment's limits over real HTTP on 127.0.0.1: abandoned calls stop their upstream work,
GET gets 405, silent or slow connections are closed, bodies are bounded, floods of logs are not."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp

from polar_mcp import http as http_module
from polar_mcp.config import Settings
from polar_mcp.http import create_app, serve
from polar_mcp.limits import GuardedH11Protocol, McpEndpoint, uvicorn_options
from polar_mcp.logs import BurstFilter
from polar_mcp.server import build_server
from polar_mcp.startup import Startup
from tests.hostile import HostileUpstream, hold
from tests.test_http import MCP_HEADERS, TOOL_CALL, _Uvicorn

pytestmark = pytest.mark.anyio

TOKEN = "polar_oat_limits_test_token_0123"


class QuickGuard(GuardedH11Protocol):
    head_seconds = 0.3
    max_connections = 5


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, **options: Any) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, timeout_graceful_shutdown=2, **{**uvicorn_options(), **options})
    server = _Uvicorn(config)
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve, [sock])
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            server.force_exit = True


def app_for(upstream_url: str, **options: Any) -> ASGIApp:
    server = build_server(Settings(access_token=TOKEN, server_url=upstream_url, timeout=20))
    return create_app(server, auth_token="", **options)


async def test_a_client_that_goes_away_cancels_its_request_to_polar() -> None:
    async with HostileUpstream(hold()) as upstream, serving(app_for(upstream.url)) as url:
        with anyio.fail_after(10):
            async with httpx.AsyncClient() as client, anyio.create_task_group() as group:
                group.start_soon(lambda: client.post(f"{url}/mcp", json=TOOL_CALL, headers=MCP_HEADERS))
                await upstream.arrived.wait()  # the call has reached Polar
                group.cancel_scope.cancel()  # and the client goes away: its connection is closed
            # Without cancellation the upstream request would run to POLAR_TIMEOUT (20 s).
            await upstream.exchanges[0].gone.wait()


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
async def test_methods_other_than_post_get_405_at_once(method: str) -> None:
    async with (
        HostileUpstream(hold()) as upstream,
        serving(app_for(upstream.url)) as url,
        httpx.AsyncClient() as client,
    ):
        with anyio.fail_after(10):
            response = await client.request(
                method, f"{url}/mcp", headers={"Accept": "text/event-stream"}, timeout=5
            )
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert upstream.exchanges == []


async def test_bodies_are_bounded_in_size_and_time() -> None:
    endpoint = McpEndpoint(app_for("http://127.0.0.1:9"), body_seconds=0.3)
    async with serving(endpoint) as url, httpx.AsyncClient() as client:
        with anyio.fail_after(10):
            big = await client.post(url, content=b"x" * (1024 * 1024 + 1), headers=MCP_HEADERS)
            # A client that sends part of its body and then nothing more: the server must not wait.
            host, port = url.removeprefix("http://").split(":")
            async with await anyio.connect_tcp(host, int(port)) as stream:
                head = "".join(f"{name}: {value}\r\n" for name, value in MCP_HEADERS.items())
                await stream.send(
                    f"POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 13\r\n{head}\r\n".encode()
                    + b'{"jsonrpc": '
                )
                late = await stream.receive()
    assert big.status_code == 413 and late.startswith(b"HTTP/1.1 408 ")


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    return sock


async def closed_by_server(sock: socket.socket) -> bool:
    with anyio.fail_after(5):
        while True:
            await anyio.wait_readable(sock)
            try:
                return sock.recv(1024) == b""
            except BlockingIOError:
                continue
            except ConnectionResetError:
                return True


async def test_a_connection_that_never_finishes_its_head_is_closed() -> None:
    async with serving(app_for("http://127.0.0.1:9"), http=QuickGuard) as url:
        port = int(url.rsplit(":", 1)[1])
        silent = connect(port)
        dripping = connect(port)
        dripping.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        with silent, dripping:
            assert await closed_by_server(silent)
            with anyio.fail_after(5):
                for _ in range(100):  # a header byte every 20 ms never completes the head
                    try:
                        dripping.send(b"x")
                    except (BrokenPipeError, ConnectionResetError):
                        break
                    # The pace of a dripping client, cut short when the server closes the connection.
                    with anyio.move_on_after(0.02):
                        await anyio.wait_readable(dripping)
                        break
            assert await closed_by_server(dripping)


async def test_keep_alive_connections_still_serve_request_after_request() -> None:
    async with serving(app_for("http://127.0.0.1:9"), http=QuickGuard) as url, httpx.AsyncClient() as client:
        for _ in range(3):
            assert (await client.get(f"{url}/healthz")).status_code == 200


async def test_connections_beyond_the_cap_are_closed_and_service_goes_on() -> None:
    async with serving(app_for("http://127.0.0.1:9"), http=QuickGuard) as url:
        port = int(url.rsplit(":", 1)[1])
        idle = [connect(port) for _ in range(8)]
        try:
            closed = [await closed_by_server(sock) for sock in idle[5:]]
            assert all(closed)
        finally:
            for sock in idle:
                sock.close()
        async with httpx.AsyncClient() as client:
            with anyio.fail_after(5):
                assert (await client.get(f"{url}/healthz")).status_code == 200


def test_a_flood_of_one_message_is_logged_a_bounded_number_of_times() -> None:
    now = [0.0]
    burst = BurstFilter(burst=20, window=10.0, clock=lambda: now[0])

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None, None)

    passed = [burst.filter(record("socket.accept() out of system resource")) for _ in range(5000)]
    assert sum(passed) == 20
    assert burst.filter(record("something else"))
    now[0] = 11.0
    summary = record("socket.accept() out of system resource")
    assert burst.filter(summary) and "4980 more like this" in str(summary.msg)


@pytest.mark.parametrize(("host", "bound"), [("::1", "::1"), ("[::1]", "::1"), ("127.0.0.1", "127.0.0.1")])
def test_serve_binds_ipv6_loopback_and_applies_the_limits(
    monkeypatch: pytest.MonkeyPatch, host: str, bound: str
) -> None:
    import uvicorn as uvicorn_module

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn_module, "run", lambda app, **options: seen.update(options))
    monkeypatch.setattr(http_module, "raise_file_limit", lambda: None)
    settings = Settings(access_token=TOKEN)
    assert serve(build_server(settings), Startup(settings), host=host, port=8123) == 0
    assert seen["host"] == bound
    # uvicorn's own cap would count idle connections; the app counts requests in flight instead.
    assert seen["http"] == "polar_mcp.limits:GuardedH11Protocol" and seen["limit_concurrency"] is None
    assert seen["timeout_keep_alive"] > 0 and seen["h11_max_incomplete_event_size"] > 0
