"""The HTTP deployment under floods and odd requests, over real HTTP on 127.0.0.1 (other loopback addresses
stand in for other clients): idle connections take no request slot, silent ones are closed early, one
address cannot hold every connection, /healthz and /readyz stay cheap, request heads are bounded, the
logged client address is the peer's unless a trusted proxy names another, a call cut off by shutdown gets
a JSON-RPC error, and a Host with a non-numeric port is refused."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from anyio.abc import SocketStream
from starlette.types import ASGIApp, Receive, Scope, Send

from polar_mcp import http as http_module
from polar_mcp.config import Settings
from polar_mcp.http import HttpConfig, create_app, serve
from polar_mcp.limits import (
    MAX_HEADER_BYTES,
    GuardedH11Protocol,
    InFlightLimit,
    client_key,
    parse_networks,
    uvicorn_options,
)
from polar_mcp.logs import ControlCharacterFilter
from polar_mcp.server import build_server
from polar_mcp.startup import Startup
from tests.hostile import HostileUpstream, hold

pytestmark = pytest.mark.anyio

TOKEN = "polar_oat_hardening_test_token_01"
AUTH = "hardening-secret-5b1e9c0d7a"
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 7, "method": "tools/list", "params": {}}
TOOL_CALL = {
    "jsonrpc": "2.0",
    "id": 8,
    "method": "tools/call",
    "params": {"name": "list_customers", "arguments": {"limit": 5}},
}
GRACE_SECONDS = 1  # uvicorn's graceful shutdown in these tests; then it cancels what is still running


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # several servers share the test's thread; signal handling stays with pytest


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, **options: Any) -> AsyncIterator[tuple[int, uvicorn.Server]]:
    """`app` under uvicorn with the deployment's options on an ephemeral 127.0.0.1 port. Leaving shuts it
    down gracefully: after `GRACE_SECONDS` uvicorn cancels requests still running."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    config = uvicorn.Config(app, timeout_graceful_shutdown=GRACE_SECONDS, **{**uvicorn_options(), **options})
    server = _Uvicorn(config)
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve, [sock])
        try:
            yield sock.getsockname()[1], server
        finally:
            server.should_exit = True


def app_for(upstream_url: str, **options: Any) -> ASGIApp:
    server = build_server(Settings(access_token=TOKEN, server_url=upstream_url, timeout=20))
    return create_app(server, **{"auth_token": AUTH, "trusted_proxies": [], **options})


async def connect(port: int, local_host: str = "127.0.0.1") -> SocketStream:
    return await anyio.connect_tcp("127.0.0.1", port, local_host=local_host)


async def closed_by_server(stream: SocketStream) -> bool:
    """Wait (bounded by the caller's deadline) until the server closes the connection."""
    with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
        while True:
            await stream.receive()
    return True


async def raw_exchange(port: int, request: bytes, local_host: str = "127.0.0.1") -> bytes:
    """Send `request` (which should ask for `Connection: close`) and read until the server closes."""
    chunks: list[bytes] = []
    async with await connect(port, local_host) as stream:
        await stream.send(request)
        with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
            while True:
                chunks.append(await stream.receive())
    return b"".join(chunks)


def healthz_request(extra: bytes = b"") -> bytes:
    return b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra + b"\r\n"


class Patient(GuardedH11Protocol):
    """Deadlines long enough that nothing in a test is closed by them."""

    first_byte_seconds = 30.0
    head_seconds = 30.0


async def test_idle_connections_take_no_request_slot() -> None:
    # 200 silent connections from four other addresses: before, they alone filled uvicorn's concurrency
    # limit of 200 and every request, /healthz included, got 503.
    async with HostileUpstream(hold()) as upstream, serving(app_for(upstream.url), http=Patient) as (port, _):
        with anyio.fail_after(20):
            idle = [await connect(port, f"127.0.0.{10 + n // 50}") for n in range(200)]
            try:
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                    health = await client.get("/healthz")
                    listed = await client.post(
                        "/mcp", json=TOOLS_LIST, headers={**MCP_HEADERS, "Authorization": f"Bearer {AUTH}"}
                    )
            finally:
                for stream in idle:
                    await stream.aclose()
    assert health.status_code == 200
    assert listed.status_code == 200 and listed.json()["result"]["tools"]


class FirstByte(GuardedH11Protocol):
    first_byte_seconds = 0.2
    head_seconds = 30.0


async def test_a_connection_that_sends_nothing_is_closed_at_the_first_byte_deadline() -> None:
    async with serving(app_for("http://127.0.0.1:9"), http=FirstByte) as (port, _):
        with anyio.fail_after(5):  # without the first-byte deadline the silent one lives 30 s
            async with await connect(port) as silent, await connect(port) as talking:
                await talking.send(b"GET /healthz HTTP/1.1\r\n")
                assert await closed_by_server(silent)
                # The one that spoke keeps the whole-head deadline, and is answered when it finishes.
                await talking.send(b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
                answer = b""
                with contextlib.suppress(anyio.EndOfStream):
                    while True:
                        answer += await talking.receive()
    assert answer.startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize(("pad", "status"), [(15 * 1024, b"200"), (17 * 1024, b"400"), (120 * 1024, b"400")])
async def test_request_heads_are_bounded_at_16_kib_even_in_one_piece(pad: int, status: bytes) -> None:
    assert MAX_HEADER_BYTES == 16 * 1024
    async with serving(app_for("http://127.0.0.1:9")) as (port, _):
        with anyio.fail_after(10):
            answer = await raw_exchange(port, healthz_request(b"X-Pad: " + b"a" * pad + b"\r\n"))
    assert answer.startswith(b"HTTP/1.1 " + status)


class FewPerClient(Patient):
    max_per_client = 3


class FewPerClientTrusting(FewPerClient):
    trusted_proxies = parse_networks("127.0.0.2")


async def test_one_address_cannot_hold_more_than_its_share_of_connections() -> None:
    async with serving(app_for("http://127.0.0.1:9"), http=FewPerClient) as (port, _):
        with anyio.fail_after(10):
            held = [await connect(port, "127.0.0.2") for _ in range(3)]
            try:
                async with await connect(port, "127.0.0.2") as extra:
                    assert await closed_by_server(extra)
                # Another address is served as usual.
                assert (await raw_exchange(port, healthz_request())).startswith(b"HTTP/1.1 200")
            finally:
                for stream in held:
                    await stream.aclose()
            # Closed connections give their places back.
            assert (await raw_exchange(port, healthz_request(), "127.0.0.2")).startswith(b"HTTP/1.1 200")


async def test_a_trusted_proxy_is_not_held_to_the_per_client_cap() -> None:
    async with serving(app_for("http://127.0.0.1:9"), http=FewPerClientTrusting) as (port, _):
        with anyio.fail_after(10):
            held = [await connect(port, "127.0.0.2") for _ in range(3)]
            try:
                answer = await raw_exchange(port, healthz_request(), "127.0.0.2")
            finally:
                for stream in held:
                    await stream.aclose()
    assert answer.startswith(b"HTTP/1.1 200")


def test_ipv6_clients_are_counted_by_their_64() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.7") == client_key("192.0.2.7") == "192.0.2.7"


async def test_healthz_answers_while_requests_in_flight_are_at_the_cap() -> None:
    arrived = 0
    both_in, release = anyio.Event(), anyio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal arrived
        if scope["type"] != "http":
            return
        if scope["path"] == "/slow":
            arrived += 1
            if arrived == 2:
                both_in.set()
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async with (
        serving(InFlightLimit(app, limit=2, exempt=("/healthz",)), http=Patient) as (port, _),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
        anyio.create_task_group() as group,
    ):
        with anyio.fail_after(10):
            slow: list[int] = []

            async def call_slow() -> None:
                slow.append((await client.get("/slow")).status_code)

            group.start_soon(call_slow)
            group.start_soon(call_slow)
            await both_in.wait()
            refused = await client.get("/other")
            health = await client.get("/healthz")
            release.set()
    assert slow == [200, 200]
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "Retry" in refused.json()["error"]["message"]
    assert health.status_code == 200


async def test_readyz_probes_share_one_check_on_a_slow_polar() -> None:
    async with (
        HostileUpstream(hold()) as upstream,
        serving(app_for(upstream.url), http=Patient) as (port, _),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
        anyio.create_task_group() as group,
    ):
        with anyio.fail_after(3):  # each waiting on the held check would take 5 s or more
            group.start_soon(client.get, "/readyz")  # starts the one check; Polar never answers
            await upstream.arrived.wait()
            answers: list[httpx.Response] = []

            async def probe() -> None:
                answers.append(await client.get("/readyz"))

            async with anyio.create_task_group() as probes:
                for _ in range(30):
                    probes.start_soon(probe)
        group.cancel_scope.cancel()
    assert [(r.status_code, r.json()) for r in answers] == [(503, {"status": "unknown"})] * 30
    assert len(upstream.exchanges) == 1


class _StuckPolar:
    async def list_customers(self, query: object) -> None:
        await anyio.Event().wait()


async def test_a_readiness_check_that_polar_never_answers_ends_as_not_ready(
    caplog: pytest.LogCaptureFixture,
) -> None:
    readiness = http_module._Readiness(_StuckPolar(), check_seconds=0.1)  # type: ignore[arg-type]
    with anyio.fail_after(5):
        response = await readiness.endpoint(None)  # type: ignore[arg-type]
    assert response.status_code == 503
    assert json.loads(bytes(response.body)) == {"status": "unavailable", "reason": "PolarUnreachable"}
    assert "did not answer the readiness check" in caplog.text


async def test_a_call_cut_off_by_shutdown_gets_a_json_rpc_error() -> None:
    async with (
        HostileUpstream(hold()) as upstream,
        serving(app_for(upstream.url), http=Patient) as (port, server),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
        anyio.create_task_group() as group,
    ):
        with anyio.fail_after(10):
            answers: list[httpx.Response] = []

            async def call() -> None:
                headers = {**MCP_HEADERS, "Authorization": f"Bearer {AUTH}"}
                answers.append(await client.post("/mcp", json=TOOL_CALL, headers=headers))

            group.start_soon(call)
            await upstream.arrived.wait()
            server.should_exit = True  # the call waits on Polar longer than the grace period
    [answer] = answers
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
    body = answer.json()
    assert body["jsonrpc"] == "2.0" and body["id"] == TOOL_CALL["id"]
    assert "shutting down" in body["error"]["message"] and "Retry" in body["error"]["message"]


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def access_log() -> Iterator[list[str]]:
    """uvicorn's access log lines while inside; whatever another test made of that logger's settings."""
    logger = logging.getLogger("uvicorn.access")
    handler = _Lines()
    saved = (logger.level, logger.disabled)
    logger.setLevel(logging.INFO)
    logger.disabled = False
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.disabled = saved[1]


def _forwarded_request(forwarded_for: bytes) -> bytes:
    # No bearer token: the 401 is logged with the client address.
    return (
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 2\r\n"
        b"Content-Type: application/json\r\nX-Forwarded-For: " + forwarded_for + b"\r\n\r\n{}"
    )


@pytest.mark.parametrize(
    ("trusted", "forwarded_for", "logged"),
    [
        pytest.param([], b"203.0.113.9", "127.0.0.1", id="no-proxy-trusted"),
        pytest.param(["127.0.0.1"], b"198.51.100.7, 203.0.113.9", "203.0.113.9", id="trusted-loopback"),
        pytest.param(
            ["127.0.0.0/8", "203.0.113.0/24"], b"198.51.100.7, 203.0.113.9", "198.51.100.7", id="two-hops"
        ),
        pytest.param(["127.0.0.1"], b"203.0.113.9\x1b[31m", "127.0.0.1", id="control-bytes"),
        pytest.param(["127.0.0.1"], b"not-an-address", "127.0.0.1", id="garbage"),
    ],
)
async def test_the_logged_client_is_the_peer_unless_a_trusted_proxy_names_one(
    trusted: list[str], forwarded_for: bytes, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    app = app_for("http://127.0.0.1:9", trusted_proxies=trusted)
    with access_log() as access:
        async with serving(app, http=Patient) as (port, _):
            with anyio.fail_after(10):
                answer = await raw_exchange(port, _forwarded_request(forwarded_for))
    assert answer.startswith(b"HTTP/1.1 401")
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused an MCP request")]
    assert refusals == [refusals[0]] and refusals[0].startswith(f"refused an MCP request from {logged}:")
    assert access and all(line.startswith(f"{logged}:") for line in access)
    assert "\x1b" not in caplog.text and not any("\x1b" in line for line in access)


def test_control_characters_never_reach_a_log_line() -> None:
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "from %s: %s", ("a\x1b[2Jb", "c\rd\x9b"), None
    )
    assert ControlCharacterFilter().filter(record)
    assert record.getMessage() == "from a\\x1b[2Jb: c\\x0dd\\x9b"
    multi = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed:\n\tdetails", None, None)
    ControlCharacterFilter().filter(multi)
    assert multi.getMessage() == "failed:\n\tdetails"


def test_trusted_proxies_come_from_the_environment_and_a_bad_entry_stops_the_start(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = HttpConfig.from_env({"POLAR_MCP_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8,,::1"})
    assert [str(network) for network in config.trusted_proxies] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    assert HttpConfig.from_env({}).trusted_proxies == ()
    monkeypatch.setenv("POLAR_MCP_TRUSTED_PROXIES", "127.0.0.1,proxy.internal")
    settings = Settings(access_token=TOKEN)
    assert serve(build_server(settings), Startup(settings), host="127.0.0.1", port=0) == 2
    assert "'proxy.internal' is not an IP address or network" in caplog.text


@pytest.mark.parametrize(
    ("host", "status"),
    [
        pytest.param("localhost:1@evil.example", 421, id="userinfo-after-port"),
        pytest.param("127.0.0.1:8000@evil.example", 421, id="ipv4-userinfo"),
        pytest.param("localhost:evil.example", 421, id="name-as-port"),
        pytest.param("[::1]:80x", 421, id="ipv6-bad-port"),
        pytest.param("localhost:8000", 200, id="loopback-with-port"),
        pytest.param("[::1]:8000", 200, id="ipv6-with-port"),
        pytest.param("127.0.0.1", 200, id="bare"),
    ],
)
async def test_a_host_whose_port_is_not_digits_is_refused(host: str, status: int) -> None:
    app = app_for("http://127.0.0.1:9", auth_token="")
    async with (
        serving(app, http=Patient) as (port, _),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        with anyio.fail_after(10):
            response = await client.post("/mcp", json=TOOLS_LIST, headers={**MCP_HEADERS, "Host": host})
    assert response.status_code == status
