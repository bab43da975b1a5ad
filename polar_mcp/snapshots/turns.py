"""Turns for SQL statements: how many run at once in the process, how long one waits, how many one
caller may hold, and on each snapshot, whose statement goes next."""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

import anyio

from polar_mcp.errors import QueryError
from polar_mcp.snapshots.sql import busy_error

__all__ = ["PER_CALLER", "STATEMENTS_AT_ONCE", "TURN_WAIT", "FairLine", "StatementGate", "statement_caller"]

STATEMENTS_AT_ONCE = 2
"""Statements running at once across every snapshot of the process: each holds a worker thread, a core
and the memory of its answer, so many at once would slow everyone (the machine this runs on has few)."""
TURN_WAIT = 2.5
"""Seconds a statement waits for its turn before the caller is told the snapshot is busy."""
PER_CALLER = 2
"""Statements one caller may have running or waiting at once: the rest of the turns stay for others."""

statement_caller: ContextVar[str | None] = ContextVar("polar_mcp_statement_caller", default=None)
"""Who asks for the statements of this context (the HTTP deployment sets the client's address); None
for a process serving one client, such as stdio."""


class StatementGate:
    """Turns for statements, shared by every snapshot of a process: at most `at_once` run together, and
    one waits at most `wait` seconds for its turn (then `QueryError`: busy, retry). Waiting is in the
    event loop, so a caller that goes away stops waiting at once."""

    def __init__(
        self, at_once: int = STATEMENTS_AT_ONCE, wait: float = TURN_WAIT, per_caller: int = PER_CALLER
    ) -> None:
        self.at_once = at_once
        self.wait = wait
        self.per_caller = per_caller
        self._limiter: anyio.CapacityLimiter | None = None
        self._by_caller: collections.Counter[str] = collections.Counter()

    @asynccontextmanager
    async def turn(self, line: FairLine | None = None) -> AsyncIterator[None]:
        """A turn to run one statement, on `line`'s snapshot when given, and among the `at_once` of the
        process: `QueryError` (busy) when none comes within `wait` seconds in all, or at once when this
        caller already has `per_caller` statements running or waiting."""
        caller = statement_caller.get()
        if caller is not None and self._by_caller[caller] >= self.per_caller:
            plural = "" if self.per_caller == 1 else "s"
            raise QueryError(
                f"You already have {self.per_caller} statement{plural} running or waiting on this server, "
                "the most one caller may. Wait for their answers, then send the next."
            )
        if self._limiter is None:  # made on first use, inside the event loop that serves requests
            self._limiter = anyio.CapacityLimiter(self.at_once)
        limiter = self._limiter
        if caller is not None:
            self._by_caller[caller] += 1
        try:
            async with self._taken(limiter, line, caller):
                yield
        finally:
            if caller is not None:
                self._by_caller[caller] -= 1
                if not self._by_caller[caller]:
                    del self._by_caller[caller]

    @asynccontextmanager
    async def _taken(
        self, limiter: anyio.CapacityLimiter, line: FairLine | None, caller: str | None
    ) -> AsyncIterator[None]:
        in_line = False
        try:
            with anyio.fail_after(self.wait):
                if line is not None:
                    await line.enter(caller)
                    in_line = True
                await limiter.acquire()
        except TimeoutError:
            if in_line and line is not None:
                line.leave(caller)
            raise busy_error(self.wait) from None
        except BaseException:
            if in_line and line is not None:
                line.leave(caller)
            raise
        try:
            yield
        finally:
            limiter.release()
            if line is not None:
                line.leave(caller)


class FairLine:
    """One statement at a time on a snapshot (its connection runs one), taken in turn fairly: when a
    statement ends, the first waiting caller other than its own goes next, so a caller who sends many
    cannot keep another waiting behind all of them."""

    def __init__(self) -> None:
        self._busy = False
        self._waiting: list[tuple[str | None, anyio.Event]] = []

    async def enter(self, caller: str | None) -> None:
        if not self._busy and not self._waiting:
            self._busy = True
            return
        entry = (caller, anyio.Event())
        self._waiting.append(entry)
        try:
            await entry[1].wait()
        except BaseException:
            if entry in self._waiting:
                self._waiting.remove(entry)
            elif entry[1].is_set():
                self.leave(caller)  # granted just as the wait ended: hand the line on
            raise

    def leave(self, caller: str | None) -> None:
        if not self._waiting:
            self._busy = False
            return
        chosen = next((entry for entry in self._waiting if entry[0] != caller), self._waiting[0])
        self._waiting.remove(chosen)
        chosen[1].set()  # still busy: the line passes straight to the chosen one
