"""CORS on the HTTP endpoint, for hosts that run in a browser: preflights answered without the bearer token,
`Access-Control-*` headers for the allowed origins only, each origin named back, never `*`.

Over real HTTP on 127.0.0.1, then in headless Chromium: a page on another loopback origin calls the
server with fetch() and with the MCP TypeScript client, as a browser-based host does."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from polar_mcp.config import Settings
from polar_mcp.demo import demo_settings, demo_transport
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar, asgi_app
from polar_mcp.demo.organization import sample_customers
from polar_mcp.http import CORS_ALLOW_HEADERS, CORS_EXPOSE_HEADERS, create_app
from polar_mcp.server import build_server
from tests.browser.harness import ROOT, build_host_script, chromium_path, missing_tools, with_host_page
from tests.test_http import AUTH, MCP_HEADERS, TOOL_CALL, serving

LOCAL_PAGE = "http://localhost:5173"  # a host's dev server: loopback, another port, allowed by default
OPERATOR_ORIGIN = "https://chat.example.com"  # named in POLAR_MCP_ALLOWED_ORIGINS
PREFLIGHT = {"Access-Control-Request-Method": "POST"}
REQUESTED_HEADERS = "authorization, content-type, mcp-protocol-version, mcp-method"


@contextlib.asynccontextmanager
async def endpoint(auth_token: str | None = AUTH) -> AsyncIterator[str]:
    """Our HTTP app on a real 127.0.0.1 port, with the fake Polar behind it; yields the MCP URL."""
    fake = FakePolar(sample_customers(12))
    async with serving(asgi_app(fake)) as (polar_url, _):
        server = build_server(Settings(access_token=DEFAULT_TOKEN, server_url=polar_url, timeout=10))
        app = create_app(server, auth_token=auth_token, allowed_origins=[OPERATOR_ORIGIN])
        async with serving(app) as (url, _):
            yield f"{url}/mcp"


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.startswith("access-control-")}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "origin", [LOCAL_PAGE, "http://127.0.0.1:3000", "http://[::1]:8080", OPERATOR_ORIGIN]
)
async def test_a_preflight_from_an_allowed_origin_is_answered_without_the_bearer_token(origin: str) -> None:
    async with endpoint() as url, httpx.AsyncClient() as http:
        headers = {"Origin": origin, **PREFLIGHT, "Access-Control-Request-Headers": REQUESTED_HEADERS}
        response = await http.options(url, headers=headers)
    assert response.status_code == 204
    cors = cors_headers(response)
    assert cors["access-control-allow-origin"] == origin
    assert "POST" in cors["access-control-allow-methods"].split(", ")
    allowed = {name.lower() for name in cors["access-control-allow-headers"].split(", ")}
    assert allowed >= {"authorization", "content-type", "mcp-session-id", "mcp-protocol-version"}
    assert allowed >= {"last-event-id", *REQUESTED_HEADERS.split(", ")}
    assert "access-control-allow-credentials" not in cors
    assert int(cors["access-control-max-age"]) > 0
    assert "Origin" in response.headers["vary"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://localhost.evil.example", "http://localhost:1@evil.example", "null"],
)
async def test_a_preflight_from_any_other_origin_gets_no_cors_headers(origin: str) -> None:
    async with endpoint() as url, httpx.AsyncClient() as http:
        response = await http.options(url, headers={"Origin": origin, **PREFLIGHT})
    assert response.status_code == 403
    assert cors_headers(response) == {}


@pytest.mark.anyio
async def test_answers_to_an_allowed_origin_name_it_and_expose_what_clients_read() -> None:
    async with endpoint() as url, httpx.AsyncClient() as http:
        headers = {**MCP_HEADERS, "Origin": LOCAL_PAGE}
        called = await http.post(url, json=TOOL_CALL, headers={**headers, "Authorization": f"Bearer {AUTH}"})
        refused = await http.post(url, json=TOOL_CALL, headers=headers)  # no bearer token
        streamed = await http.get(url, headers={"Origin": LOCAL_PAGE, "Authorization": f"Bearer {AUTH}"})
    assert called.status_code == 200 and "Customers 1-5 of 12" in called.text
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert streamed.status_code == 405  # readable by the page: the client goes on without a stream
    for response in (called, refused, streamed):
        cors = cors_headers(response)
        assert cors["access-control-allow-origin"] == LOCAL_PAGE
        exposed = {name.lower() for name in cors["access-control-expose-headers"].split(", ")}
        assert exposed == {name.lower() for name in CORS_EXPOSE_HEADERS}
        assert "access-control-allow-credentials" not in cors
        assert "Origin" in response.headers["vary"]


@pytest.mark.anyio
async def test_requests_from_other_origins_or_without_one_carry_no_cors_headers() -> None:
    async with endpoint() as url, httpx.AsyncClient() as http:
        bearer = {**MCP_HEADERS, "Authorization": f"Bearer {AUTH}"}
        foreign = await http.post(url, json=TOOL_CALL, headers={**bearer, "Origin": "https://evil.example"})
        same_origin = await http.post(url, json=TOOL_CALL, headers=bearer)
        health = await http.get(url.removesuffix("/mcp") + "/healthz", headers={"Origin": LOCAL_PAGE})
    assert foreign.status_code == 403 and cors_headers(foreign) == {}  # the Origin check refuses it
    assert same_origin.status_code == 200 and cors_headers(same_origin) == {}
    assert health.status_code == 200 and cors_headers(health) == {}


@pytest.mark.anyio
async def test_a_public_page_may_ask_to_reach_the_server_on_a_private_address() -> None:
    async with endpoint() as url, httpx.AsyncClient() as http:
        headers = {"Origin": OPERATOR_ORIGIN, **PREFLIGHT, "Access-Control-Request-Private-Network": "true"}
        response = await http.options(url, headers=headers)
    assert response.status_code == 204
    assert response.headers["access-control-allow-private-network"] == "true"


def test_the_allowed_headers_are_those_the_typescript_client_sets() -> None:
    """Every header the MCP TypeScript client sets itself on a request, from its own reserved list."""
    bundle = ROOT / "node_modules" / "@modelcontextprotocol" / "client" / "dist" / "index.mjs"
    if not bundle.exists():
        if os.environ.get("REQUIRE_NODE_TOOLS") == "1":
            pytest.fail("node_modules is missing (npm ci)")
        pytest.skip("node_modules (npm ci)")
    source = bundle.read_text(encoding="utf-8")
    start = source.index("const RESERVED_REQUEST_HEADER_NAMES = new Set([")
    reserved = json.loads("[" + source[start:].split("[", 1)[1].split("]", 1)[0] + "]")
    ours = {name.lower() for name in CORS_ALLOW_HEADERS}
    assert set(reserved) - {"dpop"} <= ours  # DPoP is an OAuth proof this server does not use


# --- in Chromium ---------------------------------------------------------------------------------------

MISSING = missing_tools()


def need_browser() -> None:
    """Skip without Chromium and the node tools; in CI (CI=true), fail instead."""
    if MISSING:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI runs the browser tests; missing: {', '.join(MISSING)}")
        pytest.skip(f"browser tests need: {', '.join(MISSING)}")


class _Uvicorn(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # runs in a thread: signal handling stays with pytest


@contextlib.contextmanager
def threaded(app: Any, host: str = "127.0.0.1") -> Iterator[int]:
    """Serve `app` on `host` and an ephemeral port in a thread; yields the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((host, 0))
    sock.listen(128)  # listening before uvicorn starts: early connections wait in the backlog
    uv = _Uvicorn(uvicorn.Config(app, log_config=None, timeout_graceful_shutdown=5, lifespan="auto"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        sock.close()


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture(scope="module")
def browser_origins() -> Iterator[dict[str, str]]:
    """The demo server on 127.0.0.1 (bearer token on), and the host page served from two other origins:
    http://localhost:<port>, loopback and so allowed, and http://127.0.0.2:<port>, which is not."""
    need_browser()
    server = build_server(demo_settings(), transport=demo_transport())
    pages = with_host_page(_not_found, build_host_script())
    with (
        threaded(create_app(server, auth_token=AUTH)) as mcp_port,
        threaded(pages) as page_port,
        threaded(pages, host="127.0.0.2") as foreign_port,
    ):
        yield {
            "mcp": f"http://127.0.0.1:{mcp_port}/mcp",
            "page": f"http://localhost:{page_port}/host.html",
            "foreign": f"http://127.0.0.2:{foreign_port}/host.html",
        }


FETCH = """async ([url, token, body]) => {
  const headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                   "MCP-Protocol-Version": "2025-11-25"};
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    const response = await fetch(url, {method: "POST", headers, body: JSON.stringify(body)});
    return {status: response.status, text: await response.text(),
            challenge: response.headers.get("WWW-Authenticate")};
  } catch (error) {
    return {error: String(error)};
  }
}"""
# The browser logs every 4xx it reads: the 401 asked for here, and the 405 of the client's optional GET
# stream, which the stateless server refuses as the protocol allows.
EXPECTED_REFUSALS = ("status of 401 (Unauthorized)", "status of 405 (Method Not Allowed)")


def test_a_page_on_another_loopback_origin_calls_the_server_with_fetch_and_the_mcp_client(
    browser_origins: dict[str, str],
) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path())
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on(
                "console",
                lambda m: (
                    errors.append(m.text)
                    if m.type == "error" and not any(refusal in m.text for refusal in EXPECTED_REFUSALS)
                    else None
                ),
            )
            server = browser_origins["mcp"]
            page.goto(f"{browser_origins['page']}?server={server}&token={AUTH}")
            called = page.evaluate(FETCH, [server, AUTH, TOOL_CALL])
            refused = page.evaluate(FETCH, [server, None, TOOL_CALL])
            # The MCP TypeScript client, as a browser-based host runs it: discovery or handshake, tools,
            # a call, the view's resource, and the view rendering the result.
            shown = page.evaluate(
                "() => host.show('list_customers', {query: 'ada', limit: 5}, {timeoutMs: 15000})"
            )
        finally:
            browser.close()
    assert called.get("status") == 200, called
    assert "DEMO DATA" in json.loads(called["text"])["result"]["content"][0]["text"]
    assert refused.get("status") == 401 and refused["challenge"].startswith("Bearer"), refused
    assert not shown["isError"] and "Ada Lovelace" in shown["text"]
    assert errors == []


def test_a_page_on_an_origin_not_allowed_cannot_read_the_server(browser_origins: dict[str, str]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path())
        try:
            page = browser.new_page()
            page.goto(browser_origins["foreign"])
            answer = page.evaluate(FETCH, [browser_origins["mcp"], AUTH, TOOL_CALL])
        finally:
            browser.close()
    assert "TypeError" in answer.get("error", ""), answer  # the preflight was refused
