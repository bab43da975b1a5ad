"""Snapshots of every customer for SQL: one export streamed into an in-memory SQLite table, kept a while.

A snapshot is taken on first use per Polar environment, token and `organization_id` choice, kept for
`POLAR_MCP_SNAPSHOT_TTL` seconds, and shared: callers that arrive while one is being taken wait for
it instead of starting another export. The SQLite work runs in worker threads so the event loop keeps
serving other calls.
"""

from __future__ import annotations

import collections
import hashlib
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import anyio
import anyio.to_thread

from polar_mcp.config import Settings
from polar_mcp.errors import ExportsThrottled, QueryError, SnapshotTooLarge
from polar_mcp.polar.client import PolarClient
from polar_mcp.polar.export import COLUMNS, ExportedCustomer, ExportStats
from polar_mcp.snapshots.sql import (
    MAX_ANSWER_CHARS,
    MAX_ROWS,
    TIME_LIMIT,
    QueryResult,
    ReadOnlyDatabase,
    Shape,
    Ticket,
    busy_error,
)

__all__ = [
    "INDEXED",
    "STATEMENTS_AT_ONCE",
    "TURN_WAIT",
    "FairLine",
    "Snapshot",
    "SnapshotStore",
    "StatementGate",
    "snapshot_key",
    "statement_caller",
    "too_large_message",
]

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
MAX_SNAPSHOTS = 16
"""Snapshots kept at once (each is an organization choice); the least recently used goes first."""
MAX_EXPORTS = 6
EXPORT_WINDOW = 60.0
"""At most `MAX_EXPORTS` exports start within `EXPORT_WINDOW` seconds: Polar's rate budget is shared with
the merchant's own integration, and every new organization choice or refresh costs one."""

INDEXED = ("country", "created_at", "email_domain", "email", "external_id")
"""Columns with an index: the usual GROUP BY and WHERE targets, and the lookups."""
_SCHEMA = (
    "CREATE TABLE customers ("
    + ", ".join(
        "id TEXT NOT NULL PRIMARY KEY"
        if name == "id"
        else f"{name} TEXT NOT NULL"
        if name == "created_at"
        else f"{name} TEXT"
        for name in COLUMNS
    )
    + ")"
)
# A customer the export lists twice is one customer: the first row stays, the repeat is counted.
_INSERT = f"INSERT OR IGNORE INTO customers VALUES ({', '.join('?' for _ in COLUMNS)})"

Clock = Callable[[], float]


def too_many_bytes_message(max_mb: int) -> str:
    """What to do when the export alone is larger than every snapshot together may be."""
    return (
        f"The customer export is larger than {max_mb:,} MB, the most all snapshots together may hold "
        "(POLAR_MCP_SNAPSHOT_MAX_MB). Raise POLAR_MCP_SNAPSHOT_MAX_MB in the MCP server's environment and "
        "restart it (memory use is about three times that figure), or count with list_customers, whose "
        "total_count needs no snapshot."
    )


def too_large_message(max_customers: int) -> str:
    """What to do when the export holds more customers than `POLAR_MCP_SNAPSHOT_MAX` allows."""
    return (
        f"The customer export holds more than {max_customers:,} customers, the most a snapshot "
        "may hold (POLAR_MCP_SNAPSHOT_MAX). Raise POLAR_MCP_SNAPSHOT_MAX in the MCP server's "
        "environment and restart it (50,000 customers take about 30 MB of memory), or count "
        "with list_customers, whose total_count needs no snapshot."
    )


SnapshotKey = tuple[str, str, tuple[str, ...]]


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


@dataclass(frozen=True)
class Snapshot:
    """Every customer of one export, queryable with SQL."""

    database: ReadOnlyDatabase
    taken_at: float
    """When the export started, in seconds since the epoch."""
    customers: int
    stats: ExportStats
    gate: StatementGate = field(default_factory=StatementGate)
    line: FairLine = field(default_factory=FairLine)

    @property
    def size(self) -> int:
        """Bytes of the export it was made from: what the snapshot budget counts."""
        return self.stats.bytes

    @property
    def taken_at_utc(self) -> datetime:
        return datetime.fromtimestamp(self.taken_at, UTC)

    async def query(
        self,
        sql: str,
        *,
        max_rows: int = MAX_ROWS,
        time_limit: float = TIME_LIMIT,
        shape: Shape | None = None,
        max_answer_chars: int = MAX_ANSWER_CHARS,
    ) -> QueryResult:
        """Run `sql` in a worker thread, when the gate gives it a turn; other calls keep being served
        meanwhile. Cancelled (its caller gone, the server stopping), the statement ends at once."""
        ticket = Ticket()
        run = partial(
            self.database.query,
            sql,
            max_rows=max_rows,
            time_limit=time_limit,
            shape=shape,
            max_answer_chars=max_answer_chars,
            ticket=ticket,
            wait=self.gate.wait,
        )
        async with self.gate.turn(self.line):
            try:
                return await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
            except anyio.get_cancelled_exc_class():
                self.database.cancel(ticket)
                raise


def snapshot_key(settings: Settings, organization_ids: Sequence[str]) -> SnapshotKey:
    """Which snapshot a call may share: same server, same token (hashed, never kept), same organizations."""
    token = hashlib.sha256((settings.access_token or "").encode()).hexdigest()
    return settings.server_url, token, tuple(sorted({org.lower() for org in organization_ids}))


@dataclass
class _Flight:
    """A snapshot being taken; callers that arrive meanwhile wait for its outcome."""

    done: anyio.Event = field(default_factory=anyio.Event)
    snapshot: Snapshot | None = None
    error: Exception | None = None


class SnapshotStore:
    """The snapshots of one server process; `get` returns a fresh enough one, taking it if needed."""

    def __init__(
        self,
        settings: Settings,
        polar: PolarClient,
        *,
        clock: Clock = time.time,
        gate: StatementGate | None = None,
        time_limit: float = TIME_LIMIT,
        query_clock: Clock = time.monotonic,
    ) -> None:
        self.settings = settings
        self.polar = polar
        self.clock = clock
        self.gate = gate or StatementGate()
        self.time_limit = time_limit
        """Seconds one statement may run."""
        self.query_clock = query_clock
        """The clock that time limit is measured on, for the snapshots taken from now on."""
        self._snapshots: dict[SnapshotKey, Snapshot] = {}  # least recently used first
        self._flights: dict[SnapshotKey, _Flight] = {}
        self._exports: deque[float] = deque()  # when each recent export started

    async def get(self, organization_ids: Sequence[str] = (), *, refresh: bool = False) -> Snapshot:
        """The snapshot for these organizations: kept one if younger than the TTL and not `refresh`."""
        key = snapshot_key(self.settings, organization_ids)
        while True:
            self._forget_expired()
            kept = self._snapshots.pop(key, None)
            if kept is not None:
                self._snapshots[key] = kept  # now the most recently used
                if not refresh:
                    return kept
            flight = self._flights.get(key)
            if flight is None:
                self._count_export()
                return await self._take(key, organization_ids)
            # One is being taken right now: it is as fresh as a refresh would be.
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.snapshot is not None:
                return flight.snapshot
            refresh = False  # the taker was cancelled: try again, taking it ourselves if need be

    async def _take(self, key: SnapshotKey, organization_ids: Sequence[str]) -> Snapshot:
        flight = self._flights[key] = _Flight()
        try:
            snapshot = await self._load(organization_ids)
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            del self._flights[key]
            flight.done.set()
        self._snapshots.pop(key, None)
        flight.snapshot = self._snapshots[key] = snapshot
        while len(self._snapshots) > MAX_SNAPSHOTS:
            del self._snapshots[next(iter(self._snapshots))]
        return snapshot

    def _count_export(self) -> None:
        """Refuse an export beyond `MAX_EXPORTS` in `EXPORT_WINDOW` seconds, saying when to retry."""
        now = self.clock()
        while self._exports and now - self._exports[0] >= EXPORT_WINDOW:
            self._exports.popleft()
        if len(self._exports) >= MAX_EXPORTS:
            wait = max(1.0, EXPORT_WINDOW - (now - self._exports[0]))
            raise ExportsThrottled(
                f"polar-mcp has started {MAX_EXPORTS} exports in the last {EXPORT_WINDOW:g} seconds, the "
                "most it asks Polar for (the organization's rate limit is shared with its own integration). "
                f"Retry in {wait:.0f} seconds, without refresh=true, or with an organization_id in use.",
                retry_after=wait,
            )
        self._exports.append(now)

    def _forget_expired(self) -> None:
        now = self.clock()
        for key, snapshot in list(self._snapshots.items()):
            if now - snapshot.taken_at >= self.settings.snapshot_ttl:
                del self._snapshots[key]

    def _check_size(self, stats: ExportStats) -> None:
        """Stop the download as soon as the export holds more customers than a snapshot may, or more
        bytes than every snapshot together; the least recently used snapshots make room as it grows."""
        if stats.customers > self.settings.snapshot_max:
            raise SnapshotTooLarge(too_large_message(self.settings.snapshot_max))
        budget = self.settings.snapshot_max_mb * 1_000_000
        if stats.bytes > budget:
            raise SnapshotTooLarge(too_many_bytes_message(self.settings.snapshot_max_mb))
        while self._snapshots and stats.bytes + sum(s.size for s in self._snapshots.values()) > budget:
            del self._snapshots[next(iter(self._snapshots))]

    async def _load(self, organization_ids: Sequence[str]) -> Snapshot:
        taken_at = self.clock()
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        # Nothing to roll back to: a load that fails is dropped whole.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute(_SCHEMA)
        # Batches are written in a worker thread while the next ones are parsed; only that one
        # thread touches the connection until `_finish` hands it over.
        send, receive = anyio.create_memory_object_stream[list[ExportedCustomer]](2)

        async def write() -> None:
            async with receive:
                async for batch in receive:
                    await anyio.to_thread.run_sync(_insert, conn, batch)

        try:
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(write)
                    async with send:
                        stats = await self.polar.export_customers(
                            send.send, organization_ids, progress=self._check_size
                        )
            except BaseExceptionGroup as grouped:
                # One failure (the export's, as a rule) is what callers expect to catch, not a group.
                if len(grouped.exceptions) == 1:
                    raise grouped.exceptions[0] from None
                raise
            database, customers = await anyio.to_thread.run_sync(_finish, conn, self.query_clock)
        except BaseException:
            conn.close()
            raise
        stats.duplicates = stats.customers - customers
        return Snapshot(
            database=database, taken_at=taken_at, customers=customers, stats=stats, gate=self.gate
        )


def _insert(conn: sqlite3.Connection, batch: list[ExportedCustomer]) -> None:
    conn.execute("BEGIN")
    conn.executemany(_INSERT, batch)
    conn.execute("COMMIT")


def _finish(conn: sqlite3.Connection, clock: Clock) -> tuple[ReadOnlyDatabase, int]:
    """The locked-down database and how many distinct customers it holds."""
    for column in INDEXED:
        conn.execute(f"CREATE INDEX customers_{column} ON customers ({column})")
    (customers,) = conn.execute("SELECT COUNT(*) FROM customers").fetchone()
    return ReadOnlyDatabase(conn, COLUMNS, clock), int(customers)
