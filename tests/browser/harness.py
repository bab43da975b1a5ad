"""The browser harness: the demo server over HTTP on 127.0.0.1, a test host page, and headless Chromium.

The host page (tests/browser/host.js, bundled with esbuild) is built like a chat client: an MCP client
to the server, and the App SDK's AppBridge feeding each view its tool result in a sandboxed iframe.
It is served from the same origin as the MCP endpoint, so the browser needs no CORS.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from polar_mcp.demo import demo_settings, demo_transport
from polar_mcp.http import create_app
from polar_mcp.server import build_server

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"


def missing_tools() -> list[str]:
    """What the browser tests need and this machine lacks."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if not ESBUILD.exists():
        missing.append("node_modules (npm ci)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install -e '.[test]')")
    return missing


def build_host_script() -> bytes:
    """Bundle the test host with the App SDK's app-bridge and the MCP client."""
    command = [str(ESBUILD), str(HERE / "host.js"), "--bundle", "--format=iife", "--log-level=warning"]
    return subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=60).stdout


def with_host_page(app: ASGIApp, script: bytes) -> ASGIApp:
    """`app`, plus the test host at /host.html and its script at /host.js."""
    pages = {
        "/host.html": ((HERE / "host.html").read_bytes(), b"text/html; charset=utf-8"),
        "/host.js": (script, b"text/javascript; charset=utf-8"),
    }

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        page = pages.get(scope.get("path", "")) if scope["type"] == "http" else None
        if page is None:
            await app(scope, receive, send)
            return
        body, content_type = page
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return serve


class _Uvicorn(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # runs in a thread: signal handling stays with pytest


@contextmanager
def demo_host() -> Iterator[str]:
    """Serve the demo server and the host page on an ephemeral 127.0.0.1 port; yields the base URL."""
    server = build_server(demo_settings(), transport=demo_transport())
    app = with_host_page(create_app(server, auth_token=""), build_host_script())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # listening before uvicorn starts: early connections wait in the backlog
    port = sock.getsockname()[1]
    uv = _Uvicorn(uvicorn.Config(app, log_config=None, timeout_graceful_shutdown=5))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        sock.close()


def chromium_path() -> str:
    return str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium") or CHROMIUM)
