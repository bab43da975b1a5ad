"""Snapshots of every customer for SQL: one export streamed into an in-memory SQLite table, kept a while.

A snapshot is taken on first use per Polar environment, token and `organization_id` choice, kept for
`POLAR_MCP_SNAPSHOT_TTL` seconds, and shared: callers that arrive while one is being taken wait for
it instead of starting another export. The SQLite work runs in worker threads so the event loop keeps
serving other calls.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio
import anyio.to_thread

from polar_mcp.config import Settings
from polar_mcp.errors import SnapshotTooLarge
from polar_mcp.polar.client import PolarClient
from polar_mcp.polar.export import COLUMNS, ExportedCustomer, ExportStats
from polar_mcp.snapshots.sql import MAX_ROWS, TIME_LIMIT, QueryResult, ReadOnlyDatabase

__all__ = ["INDEXED", "Snapshot", "SnapshotStore", "snapshot_key", "too_large_message"]

INDEXED = ("country", "created_at", "email_domain", "email", "external_id")
"""Columns with an index: the usual GROUP BY and WHERE targets, and the lookups."""
_SCHEMA = (
    "CREATE TABLE customers ("
    + ", ".join(
        f"{name} TEXT NOT NULL" if name in ("id", "created_at") else f"{name} TEXT" for name in COLUMNS
    )
    + ")"
)
_INSERT = f"INSERT INTO customers VALUES ({', '.join('?' for _ in COLUMNS)})"

Clock = Callable[[], float]


def too_large_message(max_customers: int) -> str:
    """What to do when the export holds more customers than `POLAR_MCP_SNAPSHOT_MAX` allows."""
    return (
        f"The customer export holds more than {max_customers:,} customers, the most a snapshot "
        "may hold (POLAR_MCP_SNAPSHOT_MAX). Raise POLAR_MCP_SNAPSHOT_MAX in the MCP server's "
        "environment and restart it (50,000 customers take about 30 MB of memory), or count "
        "with list_customers, whose total_count needs no snapshot."
    )


SnapshotKey = tuple[str, str, tuple[str, ...]]


@dataclass(frozen=True)
class Snapshot:
    """Every customer of one export, queryable with SQL."""

    database: ReadOnlyDatabase
    taken_at: float
    """When the export started, in seconds since the epoch."""
    customers: int
    stats: ExportStats

    @property
    def taken_at_utc(self) -> datetime:
        return datetime.fromtimestamp(self.taken_at, UTC)

    async def query(
        self, sql: str, *, max_rows: int = MAX_ROWS, time_limit: float = TIME_LIMIT
    ) -> QueryResult:
        """Run `sql` in a worker thread; other calls keep being served meanwhile."""
        return await anyio.to_thread.run_sync(
            lambda: self.database.query(sql, max_rows=max_rows, time_limit=time_limit)
        )


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
        time_limit: float = TIME_LIMIT,
        query_clock: Clock = time.monotonic,
    ) -> None:
        self.settings = settings
        self.polar = polar
        self.clock = clock
        self.time_limit = time_limit
        """Seconds one statement may run."""
        self.query_clock = query_clock
        """The clock that time limit is measured on, for the snapshots taken from now on."""
        self._snapshots: dict[SnapshotKey, Snapshot] = {}
        self._flights: dict[SnapshotKey, _Flight] = {}

    async def get(self, organization_ids: Sequence[str] = (), *, refresh: bool = False) -> Snapshot:
        """The snapshot for these organizations: kept one if younger than the TTL and not `refresh`."""
        key = snapshot_key(self.settings, organization_ids)
        while True:
            self._forget_expired()
            kept = self._snapshots.get(key)
            if kept is not None and not refresh:
                return kept
            flight = self._flights.get(key)
            if flight is None:
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
        flight.snapshot = self._snapshots[key] = snapshot
        return snapshot

    def _forget_expired(self) -> None:
        now = self.clock()
        for key, snapshot in list(self._snapshots.items()):
            if now - snapshot.taken_at >= self.settings.snapshot_ttl:
                del self._snapshots[key]

    def _check_size(self, stats: ExportStats) -> None:
        """Stop the download as soon as the export holds more customers than a snapshot may."""
        if stats.customers > self.settings.snapshot_max:
            raise SnapshotTooLarge(too_large_message(self.settings.snapshot_max))

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
            database = await anyio.to_thread.run_sync(_finish, conn, self.query_clock)
        except BaseException:
            conn.close()
            raise
        return Snapshot(database=database, taken_at=taken_at, customers=stats.customers, stats=stats)


def _insert(conn: sqlite3.Connection, batch: list[ExportedCustomer]) -> None:
    conn.execute("BEGIN")
    conn.executemany(_INSERT, batch)
    conn.execute("COMMIT")


def _finish(conn: sqlite3.Connection, clock: Clock) -> ReadOnlyDatabase:
    for column in INDEXED:
        conn.execute(f"CREATE INDEX customers_{column} ON customers ({column})")
    return ReadOnlyDatabase(conn, COLUMNS, clock)
