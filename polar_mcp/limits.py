"""The HTTP deployment's own limits: deadlines on request heads, caps on open connections (in all and per
client address) and on requests in flight, bounded request heads and bodies, cancellation of a call
whose client went away, and a JSON-RPC error for a call that shutdown cuts off.

uvicorn closes idle keep-alive connections but not a connection that never finishes its request head,
so a few thousand silent sockets could exhaust the process's file descriptors. `GuardedH11Protocol`
closes a connection that sends nothing within `FIRST_BYTE_SECONDS` or no complete head within
`HEADER_SECONDS`, refuses a head larger than `MAX_HEADER_BYTES` however it arrives, and refuses
connections beyond `MAX_OPEN_CONNECTIONS`, or beyond `MAX_CONNECTIONS_PER_CLIENT` from one address
(trusted proxies excepted). Open connections cost a file descriptor and a little memory, never a
request slot: `InFlightLimit` counts requests in flight, and answers 503 beyond `LIMIT_CONCURRENCY`
to every path but `/healthz`. `uvicorn_options()` gathers the settings for both ways of serving, with
uvicorn's own cap (which counts connections) and its reading of `X-Forwarded-For` turned off.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ipaddress
import json
import logging
import os
import resource
import weakref
from collections.abc import Sequence
from typing import Any

import anyio
import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from polar_mcp.server import CallerLink, caller_link
from polar_mcp.snapshots.turns import statement_caller

__all__ = [
    "FIRST_BYTE_SECONDS",
    "HEADER_SECONDS",
    "KEEP_ALIVE_SECONDS",
    "LIMIT_CONCURRENCY",
    "MAX_CONNECTIONS_PER_CLIENT",
    "MAX_HEADER_BYTES",
    "MAX_OPEN_CONNECTIONS",
    "MAX_REQUEST_BYTES",
    "TRUSTED_PROXIES_ENV",
    "GuardedH11Protocol",
    "InFlightLimit",
    "McpEndpoint",
    "Network",
    "client_key",
    "is_trusted",
    "parse_networks",
    "raise_file_limit",
    "trusted_proxies_from_env",
    "uvicorn_options",
]

logger = logging.getLogger(__name__)

FIRST_BYTE_SECONDS = 2.0  # from connecting to the first byte: a client that means to talk starts at once
HEADER_SECONDS = 10.0  # from connecting (or the last response) to a complete request head
KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this
BODY_SECONDS = 10.0  # to send a request body, once the head is in
MAX_HEADER_BYTES = 16 * 1024  # a request head larger than this is refused (400), in one piece or many
MAX_REQUEST_BYTES = 1024 * 1024  # a JSON-RPC message larger than this is refused (413)
LIMIT_CONCURRENCY = 200  # requests in flight (not connections); beyond it 503, /healthz excepted
MAX_OPEN_CONNECTIONS = 1000  # beyond it a new connection is closed at once, before it costs anything
MAX_CONNECTIONS_PER_CLIENT = 50  # open connections from one address (an IPv6 /64); trusted proxies excepted
TRUSTED_PROXIES_ENV = "POLAR_MCP_TRUSTED_PROXIES"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# JSON-RPC's own code for a failure of the server rather than of the request; HTTP 503 and Retry-After
# say that it is worth retrying, and the message says so to whoever reads it.
SERVER_ERROR = -32603
SHUTTING_DOWN = "The server is shutting down and could not finish this request. Retry it in a moment."


def parse_networks(raw: str) -> tuple[Network, ...]:
    """Comma-separated addresses or networks (`127.0.0.1, 10.0.0.0/8, ::1`); ValueError names a bad one."""
    networks: list[Network] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"{TRUSTED_PROXIES_ENV}: {item!r} is not an IP address or network; "
                "use addresses or CIDR networks separated by commas, e.g. 127.0.0.1,10.0.0.0/8"
            ) from None
    return tuple(networks)


@functools.lru_cache(maxsize=8)
def _networks_of(raw: str) -> tuple[Network, ...]:
    try:
        return parse_networks(raw)
    except ValueError:
        return ()  # the app refuses to start on this value (see `polar_mcp.http`); trust no one meanwhile


def trusted_proxies_from_env() -> tuple[Network, ...]:
    """The proxies named by `POLAR_MCP_TRUSTED_PROXIES`; none when it is unset."""
    return _networks_of(os.environ.get(TRUSTED_PROXIES_ENV, ""))


def _address(host: str) -> Address | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(host: str, networks: Sequence[Network]) -> bool:
    """Whether the peer address `host` is one of the trusted proxies."""
    address = _address(host)
    return address is not None and any(address in network for network in networks)


def client_key(host: str) -> str:
    """What the per-client cap counts by: the IPv4 address, or the /64 of an IPv6 address (one subscriber
    usually holds a whole /64)."""
    address = _address(host)
    if address is None:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class _BoundedHeadConnection(h11.Connection):
    """h11 bounds a head only while it is incomplete; one that arrives whole, in a single read of up to
    256 KiB, would pass. This refuses a parsed head above the same bound."""

    def __init__(self, max_head_bytes: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_head_bytes)
        self.max_head_bytes = max_head_bytes

    def next_event(self) -> Any:
        event = super().next_event()
        if isinstance(event, h11.Request):
            size = len(event.method) + len(event.target) + len(b"  HTTP/1.1\r\n\r\n")
            size += sum(len(name) + len(value) + 4 for name, value in event.headers.raw_items())
            if size > self.max_head_bytes:
                raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
        return event


_open_by_client: weakref.WeakKeyDictionary[ServerState, collections.Counter[str]] = (
    weakref.WeakKeyDictionary()
)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines on each request head, a bound on its size, and caps on
    open connections in all and per client address."""

    first_byte_seconds: float = FIRST_BYTE_SECONDS
    head_seconds: float = HEADER_SECONDS
    max_connections: int = MAX_OPEN_CONNECTIONS
    max_per_client: int = MAX_CONNECTIONS_PER_CLIENT
    trusted_proxies: tuple[Network, ...] | None = None  # None: from POLAR_MCP_TRUSTED_PROXIES
    _head_timer: asyncio.TimerHandle | None = None
    _head_deadline: float = 0.0
    _silent: bool = True
    _counted_as: str | None = None

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.conn = _BoundedHeadConnection(config.h11_max_incomplete_event_size or MAX_HEADER_BYTES)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            logger.warning("refused a connection: %d are open, the most allowed", self.max_connections)
            transport.abort()
            return
        peer = self.client[0] if self.client else None  # None: a Unix socket
        trusted = self.trusted_proxies if self.trusted_proxies is not None else trusted_proxies_from_env()
        if peer is not None and not is_trusted(peer, trusted):
            key = client_key(peer)
            counts = _open_by_client.setdefault(self.server_state, collections.Counter())
            if counts[key] >= self.max_per_client:
                logger.warning(
                    "refused a connection from %s: it has %d open, the most one client may", key, counts[key]
                )
                transport.abort()
                return
            counts[key] += 1
            self._counted_as = key
        now = self.loop.time()
        self._head_deadline = now + self.head_seconds
        self._arm_head_timer(min(now + self.first_byte_seconds, self._head_deadline))

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        if self._counted_as is not None:
            counts = _open_by_client.get(self.server_state)
            if counts is not None:
                counts[self._counted_as] -= 1
                if counts[self._counted_as] <= 0:
                    del counts[self._counted_as]
            self._counted_as = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._silent and data:
            self._silent = False
            if self._head_timer is not None:  # it spoke: the whole-head deadline from connecting applies
                self._arm_head_timer(self._head_deadline)
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm_head_timer()  # a head arrived: the request is the app's to bound now

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._head_deadline = self.loop.time() + self.head_seconds
            self._arm_head_timer(self._head_deadline)

    def _arm_head_timer(self, when: float) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_at(when, self._head_timeout)

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
        # uvicorn's own cap counts open connections too, so idle sockets could take every slot:
        # `InFlightLimit`, inside the app, counts requests instead.
        "limit_concurrency": None,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        # uvicorn would trust X-Forwarded-For from loopback; the app reads it from the trusted proxies only.
        "proxy_headers": False,
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


class InFlightLimit:
    """At most `limit` requests in flight in this process; beyond it, 503 with Retry-After and a JSON-RPC
    error (which MCP clients show as such). Paths in `exempt` are neither counted nor refused, so a
    liveness probe answers whatever the load."""

    def __init__(self, app: ASGIApp, limit: int = LIMIT_CONCURRENCY, exempt: Sequence[str] = ("/healthz",)):
        self.app = app
        self.limit = limit
        self.exempt = frozenset(exempt)
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            logger.warning("answered 503: %d requests are in flight, the most allowed", self.limit)
            message = (
                f"The server is busy with {self.limit} requests, the most it takes at once. Retry shortly."
            )
            await jsonrpc_error(send, 503, message, None, {"retry-after": "1"})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class McpEndpoint:
    """The ASGI app of the MCP endpoint around the SDK's: POST only (a stateless server has no stream to
    offer on GET, so 405 as the transport spec allows), a bounded body, the call cancelled, with its
    requests to Polar, when the client disconnects before the answer, and a JSON-RPC error (503) for a
    call that shutdown cuts off."""

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
        started = answered = False
        sent_body = False

        async def replay() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def tracked_send(message: Message) -> None:
            nonlocal started, answered
            started = True
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
        peer = scope.get("client")
        # Turns for SQL are shared per client address (the real one, behind a trusted proxy).
        caller_token = statement_caller.set(client_key(str(peer[0])) if peer else None)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(watch)
                try:
                    await self.app(scope, replay, tracked_send)
                finally:
                    group.cancel_scope.cancel()
        except anyio.get_cancelled_exc_class():
            # The server cancels a request only when the shutdown grace period has run out.
            if not started and not gone.is_set():
                with anyio.CancelScope(shield=True):
                    await jsonrpc_error(send, 503, SHUTTING_DOWN, _request_id(body), {"retry-after": "1"})
            raise
        finally:
            statement_caller.reset(caller_token)
            caller_link.reset(token)


def _request_id(body: bytes) -> str | int | None:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    request_id = message.get("id") if isinstance(message, dict) else None
    return request_id if isinstance(request_id, str | int) and not isinstance(request_id, bool) else None


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
    await _send_json(send, status, {"error": message}, headers)


async def jsonrpc_error(
    send: Send, status: int, message: str, request_id: str | int | None, headers: dict[str, str] | None = None
) -> None:
    """Answer with a JSON-RPC error object: MCP clients surface its message even on a non-2xx status."""
    error = {"jsonrpc": "2.0", "id": request_id, "error": {"code": SERVER_ERROR, "message": message}}
    await _send_json(send, status, error, headers)


async def _send_json(send: Send, status: int, payload: Any, headers: dict[str, str] | None) -> None:
    data = json.dumps(payload).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    raw_headers += [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": data})
