"""The HTTP deployment end to end over real HTTP on 127.0.0.1: auth, host checks, probes, shutdown."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import uvicorn
from anyio.abc import ByteReceiveStream, Process
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.types import ASGIApp, Receive, Scope, Send

from polar_mcp.config import Settings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar, asgi_app
from polar_mcp.demo.organization import sample_customers
from polar_mcp.http import HttpConfig, create_app, is_loopback, serve
from polar_mcp.polar.client import PolarClient
from polar_mcp.server import PolarMCPServer, build_server
from polar_mcp.startup import Startup
from tests.conftest import TOOL_NAMES, PolarOverHttp, free_port

AUTH = "team-secret-4f7c1d9e2b6a8053"  # the shared secret clients present to our server
TOOL_CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "list_customers", "arguments": {"limit": 5}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # several servers share the test's thread; signal handling stays with pytest


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, **options: Any) -> AsyncIterator[tuple[str, uvicorn.Server]]:
    """Run `app` with uvicorn on an ephemeral 127.0.0.1 port in this event loop; `options` go to
    `uvicorn.Config`."""
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on such sockets; without it small responses wait on Nagle.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    # Listening already: connections made before uvicorn is up wait in the backlog, so no start-up polling.
    sock.listen(128)
    port = sock.getsockname()[1]
    server = _Uvicorn(uvicorn.Config(app, log_config=None, timeout_graceful_shutdown=10, **options))
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        try:
            yield f"http://127.0.0.1:{port}", server
        finally:
            server.should_exit = True  # leaving the task group waits for a graceful shutdown


@dataclass
class Deployment:
    fake: FakePolar
    server: PolarMCPServer
    uvicorn: uvicorn.Server
    base_url: str

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"


@contextlib.asynccontextmanager
async def deployment(
    customers: int = 12,
    *,
    polar_token: str = DEFAULT_TOKEN,
    polar_app: Callable[[FakePolar], ASGIApp] = asgi_app,
    make_server: Callable[[Settings], PolarMCPServer] = build_server,
    auth_token: str | None = AUTH,
    **app_options: Any,
) -> AsyncIterator[Deployment]:
    """The fake Polar on one port and our HTTP app, pointed at it, on another: two servers of its own,
    for a test that stops them (the `deploy` fixture shares both between tests)."""
    fake = FakePolar(sample_customers(customers))
    async with serving(polar_app(fake)) as (polar_url, _):
        server = make_server(Settings(access_token=polar_token, server_url=polar_url, timeout=10))
        app = create_app(server, auth_token=auth_token, **app_options)
        async with serving(app) as (url, uv):
            yield Deployment(fake, server, uv, url)


class Mount:
    """The ASGI app of a server shared by a module's tests: it hands each request to the app of the test
    running now."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "a request arrived while no test had mounted its app"
        await self.app(scope, receive, send)


@dataclass
class SharedDeployments:
    """The fake Polar (one per session) and our HTTP app's server (one per module), shared: each
    deployment gets a fresh fake, server and app, and runs the app's lifespan itself. A test that stops
    its server uses `deployment` instead."""

    polar: PolarOverHttp
    mount: Mount
    uvicorn: uvicorn.Server
    base_url: str

    @contextlib.asynccontextmanager
    async def __call__(
        self,
        customers: int = 12,
        *,
        polar_token: str = DEFAULT_TOKEN,
        auth_token: str | None = AUTH,
        **app_options: Any,
    ) -> AsyncIterator[Deployment]:
        fake = FakePolar(sample_customers(customers))
        polar_url = self.polar.serve(fake)
        try:
            server = build_server(Settings(access_token=polar_token, server_url=polar_url, timeout=10))
            app = create_app(server, auth_token=auth_token, **app_options)
            # What uvicorn does around a server's life: start-up before the first request, shut-down
            # (which closes the Polar client) after the last answer.
            async with app.router.lifespan_context(app):
                self.mount.app = app
                try:
                    yield Deployment(fake, server, self.uvicorn, self.base_url)
                finally:
                    self.mount.app = None
        finally:
            self.polar.clear()


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # one event loop for the module, so that its tests can share one server


@pytest.fixture(scope="module")
async def deploy(polar_over_http: PolarOverHttp) -> AsyncIterator[SharedDeployments]:
    """`async with deploy(customers, ...) as dep:` as `deployment`, on servers shared by the module."""
    mount = Mount()
    async with serving(mount, lifespan="off") as (url, server):
        yield SharedDeployments(polar_over_http, mount, server, url)


@contextlib.asynccontextmanager
async def mcp_client(url: str, token: str = AUTH) -> AsyncIterator[Client]:
    """An MCP client that sends our bearer token on every request, as Claude Code's --header does."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


@pytest.mark.anyio
async def test_client_pages_through_every_customer_over_http(
    deploy: SharedDeployments, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(30):
        async with deploy(57) as dep, mcp_client(dep.mcp_url) as client:
            tools = await client.list_tools()
            assert [tool.name for tool in tools.tools] == TOOL_NAMES
            seen: list[str] = []
            page: int | None = 1
            texts: list[str] = []
            while page is not None:
                result = await client.call_tool("list_customers", {"limit": 10, "page": page})
                assert not result.is_error
                assert result.structured_content is not None
                seen += [customer["id"] for customer in result.structured_content["customers"]]
                texts += [block.text for block in result.content if block.type == "text"]
                page = result.structured_content["next_page"]
    assert len(seen) == len(set(seen)) == 57
    assert set(seen) == {customer["id"] for customer in dep.fake.customers}
    assert len(dep.fake.requests) == 6
    for secret in (AUTH, DEFAULT_TOKEN):
        assert secret not in caplog.text
        assert all(secret not in text for text in texts)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-authorization"),
        pytest.param({"Authorization": "Bearer wrong-secret"}, id="wrong-token"),
        pytest.param({"Authorization": f"Bearer {AUTH}x"}, id="token-with-suffix"),
        pytest.param({"Authorization": f"Basic {AUTH}"}, id="wrong-scheme"),
        pytest.param({"Authorization": "Bearer"}, id="scheme-only"),
        pytest.param({"Authorization": f"Bearer {DEFAULT_TOKEN}"}, id="polar-token-passthrough"),
    ],
)
async def test_requests_without_the_bearer_token_get_401_and_reach_no_tool(
    deploy: SharedDeployments, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(30):
        async with deploy() as dep, httpx.AsyncClient(base_url=dep.base_url) as http:
            refused = await http.post("/mcp", json=TOOL_CALL, headers={**MCP_HEADERS, **headers})
            assert dep.fake.requests == []
            # The same request with the right token does reach the tool: the 401 above was the guard.
            accepted = await http.post(
                "/mcp", json=TOOL_CALL, headers={**MCP_HEADERS, "Authorization": f"Bearer {AUTH}"}
            )
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized"
    assert "Authorization: Bearer" in refused.json()["error_description"]
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert accepted.status_code == 200
    assert accepted.json()["result"]["structuredContent"]["total_count"] == 12
    assert len(dep.fake.requests) == 1
    for secret in (AUTH, DEFAULT_TOKEN):
        assert secret not in refused.text
        assert secret not in accepted.text
        assert secret not in caplog.text


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({"Host": "evil.example"}, 421, id="bad-host"),
        pytest.param({"Host": "evil.example:8000"}, 421, id="bad-host-with-port"),
        pytest.param({"Origin": "http://evil.example"}, 403, id="bad-origin"),
        pytest.param({"Origin": "https://127.0.0.1.evil.example"}, 403, id="lookalike-origin"),
    ],
)
async def test_dns_rebinding_protection_refuses_foreign_host_and_origin(
    deploy: SharedDeployments, headers: dict[str, str], status: int
) -> None:
    auth = {"Authorization": f"Bearer {AUTH}"}
    with anyio.fail_after(30):
        async with deploy() as dep, httpx.AsyncClient(base_url=dep.base_url) as http:
            response = await http.post("/mcp", json=TOOL_CALL, headers={**MCP_HEADERS, **auth, **headers})
    assert response.status_code == status
    assert dep.fake.requests == []


@pytest.mark.anyio
async def test_configured_host_and_origin_are_accepted_for_deployments_behind_a_proxy(
    deploy: SharedDeployments,
) -> None:
    headers = {
        **MCP_HEADERS,
        "Authorization": f"Bearer {AUTH}",
        "Host": "mcp.example.com",
        "Origin": "https://app.example.com",
    }
    with anyio.fail_after(30):
        async with (
            deploy(allowed_hosts=["mcp.example.com"], allowed_origins=["https://app.example.com"]) as dep,
            httpx.AsyncClient(base_url=dep.base_url) as http,
        ):
            response = await http.post("/mcp", json=TOOL_CALL, headers=headers)
            other = await http.post("/mcp", json=TOOL_CALL, headers={**headers, "Host": "other.example.com"})
    assert response.status_code == 200
    assert other.status_code == 421
    assert len(dep.fake.requests) == 1


@pytest.mark.anyio
async def test_allowlists_and_token_come_from_the_environment(
    deploy: SharedDeployments, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLAR_MCP_AUTH_TOKEN", AUTH)
    monkeypatch.setenv("POLAR_MCP_ALLOWED_HOSTS", "mcp.example.com, ")
    headers = {**MCP_HEADERS, "Host": "mcp.example.com"}
    with anyio.fail_after(30):
        async with deploy(auth_token=None) as dep, httpx.AsyncClient(base_url=dep.base_url) as http:
            without = await http.post("/mcp", json=TOOL_CALL, headers=headers)
            with_token = await http.post(
                "/mcp", json=TOOL_CALL, headers={**headers, "Authorization": f"Bearer {AUTH}"}
            )
    assert (without.status_code, with_token.status_code) == (401, 200)


def test_http_config_reads_comma_separated_lists_and_hides_the_token() -> None:
    config = HttpConfig.from_env(
        {
            "POLAR_MCP_AUTH_TOKEN": f" {AUTH} ",
            "POLAR_MCP_ALLOWED_HOSTS": "mcp.example.com, mcp.internal:*,,",
            "POLAR_MCP_ALLOWED_ORIGINS": "https://app.example.com",
        }
    )
    assert config.auth_token == AUTH
    assert config.allowed_hosts == ("mcp.example.com", "mcp.internal:*")
    assert config.allowed_origins == ("https://app.example.com",)
    assert AUTH not in repr(config)
    security = config.transport_security()
    assert security.enable_dns_rebinding_protection
    assert {"127.0.0.1:*", "localhost:*", "mcp.example.com", "mcp.internal:*"} <= set(security.allowed_hosts)
    assert HttpConfig.from_env({}) == HttpConfig()


@pytest.mark.anyio
async def test_healthz_answers_without_auth_and_without_calling_polar(deploy: SharedDeployments) -> None:
    with anyio.fail_after(30):
        async with deploy() as dep, httpx.AsyncClient(base_url=dep.base_url) as http:
            response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert dep.fake.requests == []


@pytest.mark.anyio
async def test_readyz_checks_the_polar_token_with_one_small_request(deploy: SharedDeployments) -> None:
    with anyio.fail_after(30):
        async with deploy() as dep, httpx.AsyncClient(base_url=dep.base_url) as http:
            first = await http.get("/readyz")
            second = await http.get("/readyz")
    assert (first.status_code, first.json()) == (200, {"status": "ready"})
    assert second.status_code == 200
    assert dep.fake.queries == ["page=1&limit=1"]  # the second answer came from the cache


@pytest.mark.anyio
async def test_readyz_reports_a_rejected_polar_token_without_details(
    deploy: SharedDeployments, caplog: pytest.LogCaptureFixture
) -> None:
    bad_token = "polar_oat_revoked_0000"
    with anyio.fail_after(30):
        async with (
            deploy(polar_token=bad_token) as dep,
            httpx.AsyncClient(base_url=dep.base_url) as http,
        ):
            response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reason": "AuthError"}
    assert "rejected the access token" in caplog.text  # the operator sees why
    assert bad_token not in caplog.text
    assert bad_token not in response.text


class _RecordingPolarClient(PolarClient):
    def __init__(self, settings: Settings, events: list[str]) -> None:
        super().__init__(settings)
        self.events = events

    async def aclose(self) -> None:
        self.events.append("polar client closed")
        await super().aclose()


class _ShutdownStarted(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.event = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "Shutting down":
            self.event.set()


@pytest.mark.anyio
async def test_shutdown_lets_an_in_flight_call_finish_then_closes_the_polar_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="uvicorn.error")  # its "Shutting down" line is our signal
    events: list[str] = []
    arrived, release = anyio.Event(), anyio.Event()

    def held_polar(fake: FakePolar) -> ASGIApp:
        inner = asgi_app(fake)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                arrived.set()
                await release.wait()
            await inner(scope, receive, send)

        return app

    def make_server(settings: Settings) -> PolarMCPServer:
        return build_server(settings, client=_RecordingPolarClient(settings, events))

    shutdown = _ShutdownStarted()
    logging.getLogger("uvicorn.error").addHandler(shutdown)
    try:
        with anyio.fail_after(30):
            async with (
                deployment(polar_app=held_polar, make_server=make_server) as dep,
                mcp_client(dep.mcp_url) as client,
                anyio.create_task_group() as tg,
            ):

                async def call() -> None:
                    result = await client.call_tool("list_customers", {"limit": 3})
                    events.append(f"call finished, error={result.is_error}")

                await client.list_tools()  # the client checks results against the tool's schema: fetch it now
                tg.start_soon(call)
                await arrived.wait()
                # Stop our server (not the fake) while the call waits on Polar.
                dep.uvicorn.should_exit = True
                await shutdown.event.wait()
                events.append("shutdown started")
                release.set()
            # Leaving `deployment` waits for uvicorn to finish shutting down.
    finally:
        logging.getLogger("uvicorn.error").removeHandler(shutdown)
    assert events == ["shutdown started", "call finished, error=False", "polar client closed"]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "mcp.example.com"])
def test_refuses_to_listen_beyond_loopback_without_an_auth_token(
    host: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(access_token=DEFAULT_TOKEN)
    assert serve(build_server(settings), Startup(settings), host=host, port=0) == 2
    assert "refusing to listen" in caplog.text
    assert "POLAR_MCP_AUTH_TOKEN" in caplog.text
    assert DEFAULT_TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


@pytest.mark.anyio
async def test_without_a_token_requests_arriving_beyond_loopback_are_refused() -> None:
    # Covers `uvicorn polar_mcp.http:app --host 0.0.0.0` with no token, where `serve` is not involved.
    app = create_app(build_server(Settings(access_token=DEFAULT_TOKEN)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5:8000") as http:
        response = await http.post("/mcp", json=TOOL_CALL, headers=MCP_HEADERS)
    assert response.status_code == 401
    assert "POLAR_MCP_AUTH_TOKEN" in response.json()["error_description"]


async def _drain(stream: ByteReceiveStream, chunks: list[bytes]) -> None:
    with contextlib.suppress(anyio.EndOfStream, anyio.ClosedResourceError):
        while True:
            chunks.append(await stream.receive())


async def _wait_healthy(url: str, process: Process, seconds: float = 30) -> None:
    with anyio.fail_after(seconds):
        async with httpx.AsyncClient() as http:
            while True:
                assert process.returncode is None, "the server exited during start-up"
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{url}/healthz")).status_code == 200:
                        return
                await anyio.sleep(0.05)  # a separate process: polling its port is the only signal


@pytest.mark.anyio
@pytest.mark.parametrize(
    "command",
    [
        pytest.param([sys.executable, "-m", "polar_mcp", "--transport", "streamable-http"], id="polar-mcp"),
        pytest.param(
            [sys.executable, "-m", "uvicorn", "polar_mcp.http:app", "--factory", "--workers", "2"],
            id="uvicorn-2-workers",
        ),
        pytest.param(
            [sys.executable, "-m", "polar_mcp", "--transport", "streamable-http", "--workers", "2"],
            id="polar-mcp-2-workers",
        ),
    ],
)
async def test_deployed_process_serves_clients_and_stops_cleanly(
    polar_over_http: PolarOverHttp, command: list[str]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    fake = FakePolar(sample_customers(30))
    with anyio.fail_after(60):
        polar_url = polar_over_http.serve(fake)
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("POLAR_")}
            env |= {
                "POLAR_SERVER_URL": polar_url,
                "POLAR_ACCESS_TOKEN": DEFAULT_TOKEN,
                "POLAR_MCP_AUTH_TOKEN": AUTH,
            }
            stderr_chunks: list[bytes] = []
            stdout_chunks: list[bytes] = []
            async with (
                await anyio.open_process(
                    [*command, "--host", "127.0.0.1", "--port", str(port)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                ) as process,
                anyio.create_task_group() as tg,
            ):
                assert process.stderr is not None and process.stdout is not None
                tg.start_soon(_drain, process.stderr, stderr_chunks)
                tg.start_soon(_drain, process.stdout, stdout_chunks)
                await _wait_healthy(url, process)

                async def one_client(page: int) -> None:
                    async with mcp_client(f"{url}/mcp") as client:
                        result = await client.call_tool("list_customers", {"limit": 5, "page": page})
                    assert not result.is_error
                    assert result.structured_content is not None
                    pages.append([c["id"] for c in result.structured_content["customers"]])

                pages: list[list[str]] = []
                async with anyio.create_task_group() as clients:
                    for page in range(1, 7):
                        clients.start_soon(one_client, page)
                process.send_signal(signal.SIGTERM)
                returncode = await process.wait()
        finally:
            polar_over_http.clear()
    stderr = b"".join(stderr_chunks).decode()
    ids = [customer_id for page_ids in pages for customer_id in page_ids]
    assert sorted(ids) == sorted(customer["id"] for customer in fake.customers)
    assert returncode in (0, -signal.SIGTERM), stderr
    assert "Traceback" not in stderr
    assert b"".join(stdout_chunks) == b""  # every log line, uvicorn's access log too, goes to stderr
    assert '"POST /mcp HTTP/1.1" 200' in stderr
    workers = 2 if "--workers" in command else 1
    assert len(set(re.findall(r"Started server process \[(\d+)\]", stderr))) == workers
    assert stderr.count("closed the Polar client") == workers
    for secret in (AUTH, DEFAULT_TOKEN):
        assert secret not in stderr
