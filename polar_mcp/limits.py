"""The HTTP deployment's own limits: a deadline on request heads, a cap on open connections and on
concurrent requests, bounded request bodies, and cancellation of a call whose client went away.

uvicorn closes idle keep-alive connections but not a connection that never finishes its request head,
so a few thousand silent sockets could exhaust the process's file descriptors. `GuardedH11Protocol`
closes a connection that has not sent a complete head within `HEADER_SECONDS`, and refuses connections
beyond `MAX_OPEN_CONNECTIONS`; `uvicorn_options()` gathers every setting for both ways of serving.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from polar_mcp.server import CallerLink, caller_link

__all__ = [
    "HEADER_SECONDS",
    "KEEP_ALIVE_SECONDS",
    "LIMIT_CONCURRENCY",
    "MAX_OPEN_CONNECTIONS",
    "MAX_REQUEST_BYTES",
    "GuardedH11Protocol",
    "McpEndpoint",
    "raise_file_limit",
    "uvicorn_options",
]

logger = logging.getLogger(__name__)

HEADER_SECONDS = 10.0  # from connecting (or the last response) to a complete request head
KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this
BODY_SECONDS = 10.0  # to send a request body, once the head is in
MAX_HEADER_BYTES = 16 * 1024  # a request head larger than this is refused (400)
MAX_REQUEST_BYTES = 1024 * 1024  # a JSON-RPC message larger than this is refused (413)
LIMIT_CONCURRENCY = 200  # connections plus requests in progress; beyond it uvicorn answers 503
MAX_OPEN_CONNECTIONS = 400  # beyond it a new connection is closed at once, before it costs anything


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request head and a cap on open connections."""

    head_seconds: float = HEADER_SECONDS
    max_connections: int = MAX_OPEN_CONNECTIONS
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            logger.warning("refused a connection: %d are open, the most allowed", self.max_connections)
            transport.abort()
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm_head_timer()  # a head arrived: the request is the app's to bound now

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.head_seconds, self._head_timeout)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.cycle is None or self.cycle.response_complete:
            self.timeout_keep_alive_handler()  # closes the connection


def uvicorn_options() -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` or `uvicorn.Config` that make these limits hold."""
    return {
        # By name: a worker process unpickles its config before it answers the supervisor's health
        # checks, and importing the whole server there could take longer than they wait.
        "http": f"{__name__}:{GuardedH11Protocol.__name__}",
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "limit_concurrency": LIMIT_CONCURRENCY,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "backlog": 1024,
        # uvicorn's own records go through our handlers too, so the burst filter bounds them.
        "log_config": None,
    }


def raise_file_limit() -> None:
    """Raise the soft limit on open files to the hard limit: the connection cap, not the kernel's
    default of 1,024, should be what turns connections away."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            logger.warning("could not raise the open-file limit above %d", soft)


class McpEndpoint:
    """The ASGI app of the MCP endpoint around the SDK's: POST only (a stateless server has no stream to
    offer on GET, so 405 as the transport spec allows), a bounded body, and the call cancelled, with its
    requests to Polar, when the client disconnects before the answer."""

    def __init__(self, app: ASGIApp, body_seconds: float = BODY_SECONDS) -> None:
        self.app = app
        self.body_seconds = body_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await _answer(send, 405, "This stateless server answers POST only.", {"allow": "POST"})
            return
        body = await _read_body(scope, receive, send, self.body_seconds)
        if body is None:
            return
        link = CallerLink()
        gone = anyio.Event()
        answered = False
        sent_body = False

        async def replay() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def tracked_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True
            await send(message)

        async def watch() -> None:
            message = await receive()  # with the body read, the next message is the disconnect
            if message["type"] == "http.disconnect":
                if not answered:
                    logger.info("the client went away before its answer: cancelling the call")
                    link.cancel()
                gone.set()

        token = caller_link.set(link)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(watch)
                try:
                    await self.app(scope, replay, tracked_send)
                finally:
                    group.cancel_scope.cancel()
        finally:
            caller_link.reset(token)


async def _read_body(scope: Scope, receive: Receive, send: Send, seconds: float) -> bytes | None:
    """The whole request body, or None after answering 413 (too large) or 408 (too slow)."""
    declared = dict(scope.get("headers", ())).get(b"content-length", b"")
    if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        await _answer(send, 413, f"A request body may hold at most {MAX_REQUEST_BYTES} bytes.")
        return None
    chunks: list[bytes] = []
    size = 0
    with anyio.move_on_after(seconds):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_REQUEST_BYTES:
                await _answer(send, 413, f"A request body may hold at most {MAX_REQUEST_BYTES} bytes.")
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
    await _answer(send, 408, f"The request body did not arrive within {seconds:g} seconds.")
    return None


async def _answer(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    payload = json.dumps({"error": message}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})
