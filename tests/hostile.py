"""A hostile Polar on 127.0.0.1: raw HTTP/1.1 over asyncio streams, so that it can drip-feed headers and
bodies, send reason phrases and bytes no framework would, set cookies and record what the client sent.

Each accepted connection serves one request with the next script in the queue (the last one repeats),
then closes. Everything it does is bounded: a script runs at most `SCRIPT_SECONDS`, drips stop after
`max_bytes`, and leaving the `async with` cancels whatever is still running. Loopback only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

__all__ = [
    "Exchange",
    "HostileUpstream",
    "body_reply",
    "drip_body",
    "drip_headers",
    "flood",
    "head",
    "hold",
    "json_reply",
]

SCRIPT_SECONDS = 20.0
HEAD_LIMIT = 64 * 1024


@dataclass
class Exchange:
    """One request received, and the means to answer it."""

    request: bytes
    writer: asyncio.StreamWriter
    reader: asyncio.StreamReader
    sent: int = 0
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the client closed its side of the connection (seen by `hold`)."""

    @property
    def headers(self) -> dict[str, str]:
        lines = self.request.decode("latin-1").split("\r\n")[1:]
        return {
            name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)
        }

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()
        self.sent += len(data)

    async def drip(self, data: bytes, interval: float) -> None:
        """Send `data` one byte at a time, `interval` seconds apart, until done or the client has gone."""
        for index in range(len(data)):
            if self.writer.is_closing():
                return
            await self.send(data[index : index + 1])
            await asyncio.sleep(interval)  # the pace is the hostility: no read ever waits long


Script = Callable[[Exchange], Awaitable[None]]


def head(
    status: int = 200,
    reason: bytes = b"OK",
    headers: dict[str, str] | None = None,
    length: int | None = None,
) -> bytes:
    """A response head; `length` None means no Content-Length (the body ends when the connection closes)."""
    lines = [b"HTTP/1.1 " + str(status).encode() + b" " + reason]
    all_headers = {"content-type": "application/json", "connection": "close", **(headers or {})}
    if length is not None:
        all_headers["content-length"] = str(length)
    lines.extend(f"{name}: {value}".encode("latin-1") for name, value in all_headers.items())
    return b"\r\n".join(lines) + b"\r\n\r\n"


def body_reply(
    body: bytes, status: int = 200, reason: bytes = b"OK", headers: dict[str, str] | None = None
) -> Script:
    async def script(exchange: Exchange) -> None:
        await exchange.send(head(status, reason, headers, len(body)) + body)

    return script


def json_reply(
    payload: Any, status: int = 200, reason: bytes = b"OK", headers: dict[str, str] | None = None
) -> Script:
    return body_reply(json.dumps(payload).encode(), status, reason, headers)


def drip_headers(interval: float, max_bytes: int = 2000) -> Script:
    """A status line, then an endless header one byte every `interval` seconds."""

    async def script(exchange: Exchange) -> None:
        await exchange.send(b"HTTP/1.1 200 OK\r\n")
        await exchange.drip(b"x-slow: " + b"a" * max_bytes, interval)

    return script


def drip_body(interval: float, max_bytes: int = 2000) -> Script:
    """Complete headers at once, then the body one byte every `interval` seconds."""

    async def script(exchange: Exchange) -> None:
        body = b'{"items": [], "pagination": {"total_count": 0, "max_page": 0}}'.ljust(max_bytes)
        await exchange.send(head(length=len(body)))
        await exchange.drip(body, interval)

    return script


def hold() -> Script:
    """Answer nothing at all; note when the client gives up and closes the connection."""

    async def script(exchange: Exchange) -> None:
        while await exchange.reader.read(1024):
            pass
        exchange.gone.set()

    return script


def flood(total: int, chunk: int = 64 * 1024, declare: bool = True) -> Script:
    """A body of `total` bytes sent as fast as the client reads it (JSON-looking, never complete)."""

    async def script(exchange: Exchange) -> None:
        await exchange.send(head(length=total if declare else None))
        piece = b'{"items": [' + b" " * (chunk - 11)
        remaining = total
        while remaining > 0 and not exchange.writer.is_closing():
            size = min(chunk, remaining)
            await exchange.send(piece[:size])
            piece = b" " * chunk
            remaining -= size

    return script


@dataclass
class HostileUpstream:
    """`async with HostileUpstream(script, ...) as upstream:` then point the client at `upstream.url`."""

    scripts: list[Script]
    exchanges: list[Exchange] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __init__(self, *scripts: Script) -> None:
        self.scripts = list(scripts)
        self.exchanges = []
        self._tasks = set()
        self._server = None
        self.url = ""
        self.arrived = asyncio.Event()

    async def __aenter__(self) -> HostileUpstream:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            exchange = Exchange(request[:HEAD_LIMIT], writer, reader)
            self.exchanges.append(exchange)
            self.arrived.set()
            script = self.scripts.pop(0) if len(self.scripts) > 1 else self.scripts[0]
            await asyncio.wait_for(script(exchange), SCRIPT_SECONDS)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass  # the client went away or never finished its request: both are its right
        except asyncio.CancelledError:
            pass  # leaving the `async with` ends every exchange; nothing waits on this task's result
        finally:
            writer.close()
            self._tasks.discard(task)
