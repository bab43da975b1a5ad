"""Snapshots for SQL: per Polar environment, token and `organization_id` choice, one in-memory SQLite
database holding the four tables, each loaded from one export (products from their pages) the first time
a statement reads it, kept `POLAR_MCP_SNAPSHOT_TTL` seconds, and retaken when a statement reads it after
that or asks for `refresh`.

Loads are shared: callers that arrive while a table is being taken wait for it instead of starting
another export. Billing rows are linked to customers and products as they load (`tables.link`), which is
why a billing table brings the `customers` and `products` tables with it. Every snapshot together holds
at most `POLAR_MCP_SNAPSHOT_MAX_MB` of export (least recently used first), at most `MAX_SNAPSHOTS` are
kept, and at most `MAX_EXPORTS` exports start in `EXPORT_WINDOW` seconds. The SQLite work runs in worker
threads so the event loop keeps serving other calls.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio
import anyio.to_thread

from polar_mcp.config import Settings
from polar_mcp.errors import ExportsThrottled, ScopeError, SnapshotTooLarge
from polar_mcp.polar.client import PolarClient
from polar_mcp.polar.export import ExportStats
from polar_mcp.snapshots.sql import (
    MAX_ANSWER_CHARS,
    MAX_ROWS,
    TIME_LIMIT,
    QueryResult,
    ReadOnlyDatabase,
    Shape,
    Ticket,
)
from polar_mcp.snapshots.tables import BILLING_TABLES, TABLES, create_empty, link, product_row, unlinked
from polar_mcp.snapshots.turns import FairLine, StatementGate, statement_caller

__all__ = [
    "EXPORT_WINDOW",
    "MAX_EXPORTS",
    "MAX_SNAPSHOTS",
    "Progress",
    "Snapshot",
    "SnapshotStore",
    "TableState",
    "snapshot_key",
    "statement_caller",
    "too_large_message",
    "too_many_bytes_message",
]

MAX_SNAPSHOTS = 16
"""Snapshots kept at once (each is an organization choice); the least recently used goes first."""
MAX_EXPORTS = 12
EXPORT_WINDOW = 60.0
"""At most `MAX_EXPORTS` exports start within `EXPORT_WINDOW` seconds: Polar's rate budget is shared with
the merchant's own integration, and every new table, organization choice or refresh costs one."""
SCOPE_HELP = "the token's settings in the Polar dashboard (Settings, then Developers)"

Clock = Callable[[], float]
SnapshotKey = tuple[str, str, tuple[str, ...]]
Progress = Callable[[str, int], Awaitable[None]]
"""Told, as a table loads, its name and the rows read so far."""


def too_many_bytes_message(max_mb: int) -> str:
    """What to do when the exports are larger than every snapshot together may be."""
    return (
        f"The exports are larger than {max_mb:,} MB, the most all snapshots together may hold "
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


@dataclass(frozen=True)
class TableState:
    """One loaded table: when its source was read, its rows, and what could not be read or linked."""

    taken_at: float
    """When the export started, in seconds since the epoch."""
    rows: int
    stats: ExportStats
    without_customer: int = 0
    without_product: int = 0

    @property
    def taken_at_utc(self) -> datetime:
        return datetime.fromtimestamp(self.taken_at, UTC)


@dataclass
class Snapshot:
    """One organization choice's tables, queryable with SQL; `tables` holds those loaded so far."""

    database: ReadOnlyDatabase
    gate: StatementGate = field(default_factory=StatementGate)
    line: FairLine = field(default_factory=FairLine)
    tables: dict[str, TableState] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """Bytes of the exports its tables came from: what the snapshot budget counts."""
        return sum(state.stats.bytes for state in self.tables.values())

    @property
    def customers(self) -> int:
        return self.tables["customers"].rows if "customers" in self.tables else 0

    @property
    def taken_at(self) -> float:
        """When its customers were exported (the first table taken when it has none)."""
        states = self.tables.get("customers") or next(iter(self.tables.values()), None)
        return states.taken_at if states is not None else 0.0

    @property
    def taken_at_utc(self) -> datetime:
        return datetime.fromtimestamp(self.taken_at, UTC)

    @property
    def stats(self) -> ExportStats:
        """The customer export's counts."""
        state = self.tables.get("customers")
        return state.stats if state is not None else ExportStats()

    async def tables_read(self, sql: str) -> set[str]:
        """The tables `sql` reads, found without running it (in a worker thread: SQLite compiles it)."""
        return await anyio.to_thread.run_sync(self.database.tables_read, sql)

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
    """A table being taken; callers that arrive meanwhile wait for its outcome."""

    done: anyio.Event = field(default_factory=anyio.Event)
    error: Exception | None = None
    loaded: bool = False


class SnapshotStore:
    """The snapshots of one server process; `get` returns one with the asked tables fresh enough."""

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
        """The clock that time limit is measured on, for the snapshots made from now on."""
        self._snapshots: dict[SnapshotKey, Snapshot] = {}  # least recently used first
        self._flights: dict[tuple[SnapshotKey, str], _Flight] = {}
        self._exports: deque[float] = deque()  # when each recent export started

    async def get(
        self,
        organization_ids: Sequence[str] = (),
        *,
        refresh: bool = False,
        tables: Sequence[str] = ("customers",),
        progress: Progress | None = None,
    ) -> Snapshot:
        """The snapshot for these organizations with `tables` loaded and younger than the TTL (`refresh`
        retakes them). A billing table brings `customers` and `products`, to link its rows, but a
        `products` table the token may not read only leaves `product_id` empty."""
        key = snapshot_key(self.settings, organization_ids)
        snapshot = self._snapshot(key)
        wanted = list(dict.fromkeys(tables))
        needs = list(wanted)
        if any(name in BILLING_TABLES for name in wanted):
            needs = ["customers", "products", *needs]
        for name in dict.fromkeys(needs):
            try:
                await self._ensure(
                    key, snapshot, name, organization_ids, refresh and name in wanted, progress
                )
            except ScopeError:
                if name != "products" or name in wanted:
                    raise
        return snapshot

    def _snapshot(self, key: SnapshotKey) -> Snapshot:
        self._forget_expired()
        snapshot = self._snapshots.pop(key, None)
        if snapshot is None:
            snapshot = Snapshot(database=_empty_database(self.query_clock), gate=self.gate)
        self._snapshots[key] = snapshot  # now the most recently used
        while len(self._snapshots) > MAX_SNAPSHOTS:
            del self._snapshots[next(iter(self._snapshots))]
        return snapshot

    async def _ensure(
        self,
        key: SnapshotKey,
        snapshot: Snapshot,
        name: str,
        organization_ids: Sequence[str],
        refresh: bool,
        progress: Progress | None,
    ) -> None:
        while True:
            state = snapshot.tables.get(name)
            fresh = state is not None and self.clock() - state.taken_at < self.settings.snapshot_ttl
            if fresh and not refresh:
                return
            flight = self._flights.get((key, name))
            if flight is None:
                await self._take(key, snapshot, name, organization_ids, progress)
                return
            # One is being taken right now: it is as fresh as a refresh would be.
            await flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.loaded:
                return
            refresh = False  # the taker was cancelled: try again, taking it ourselves if need be

    async def _take(
        self,
        key: SnapshotKey,
        snapshot: Snapshot,
        name: str,
        organization_ids: Sequence[str],
        progress: Progress | None,
    ) -> None:
        flight = self._flights[(key, name)] = _Flight()
        try:
            if name != "products":
                self._count_export()
            snapshot.tables[name] = await self._load(snapshot, name, organization_ids, progress)
            flight.loaded = True
        except Exception as exc:
            flight.error = exc
            raise
        finally:
            del self._flights[(key, name)]
            flight.done.set()

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
            ttl = self.settings.snapshot_ttl
            if snapshot.tables and all(now - state.taken_at >= ttl for state in snapshot.tables.values()):
                del self._snapshots[key]

    def _check_size(self, snapshot: Snapshot, name: str, stats: ExportStats) -> None:
        """Stop a download as soon as it holds more customers than a snapshot may, or more bytes than
        every snapshot together; the least recently used snapshots make room as it grows."""
        if name == "customers" and stats.customers > self.settings.snapshot_max:
            raise SnapshotTooLarge(too_large_message(self.settings.snapshot_max))
        budget = self.settings.snapshot_max_mb * 1_000_000
        kept = sum(state.stats.bytes for table, state in snapshot.tables.items() if table != name)
        if stats.bytes + kept > budget:
            raise SnapshotTooLarge(too_many_bytes_message(self.settings.snapshot_max_mb))
        others = [s for s in self._snapshots.values() if s is not snapshot]
        while others and stats.bytes + kept + sum(s.size for s in others) > budget:
            oldest = others.pop(0)
            self._snapshots = {k: s for k, s in self._snapshots.items() if s is not oldest}

    async def _load(
        self, snapshot: Snapshot, name: str, organization_ids: Sequence[str], progress: Progress | None
    ) -> TableState:
        taken_at = self.clock()
        table = TABLES[name]
        staging = f"{name}__loading"
        database = snapshot.database
        await anyio.to_thread.run_sync(_begin_load, database, table.create(staging), staging)
        insert = table.insert(staging)
        rows = 0

        async def sink(batch: list[Any]) -> None:
            nonlocal rows
            await anyio.to_thread.run_sync(_insert, database, insert, batch)
            rows += len(batch)
            if progress is not None:
                await progress(name, rows)

        try:
            stats = await self._fetch(snapshot, name, organization_ids, sink)
            counted = await anyio.to_thread.run_sync(
                _finish_load, database, name, staging, list(snapshot.tables)
            )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(_drop, database, staging)
            raise
        if table.key is not None:
            stats.duplicates = stats.customers - counted.rows
        for other, (without_customer, without_product) in counted.relinked.items():
            state = snapshot.tables[other]
            snapshot.tables[other] = TableState(
                state.taken_at, state.rows, state.stats, without_customer, without_product
            )
        return TableState(taken_at, counted.rows, stats, counted.without_customer, counted.without_product)

    async def _fetch(
        self,
        snapshot: Snapshot,
        name: str,
        organization_ids: Sequence[str],
        sink: Callable[[list[Any]], Awaitable[None]],
    ) -> ExportStats:
        def check(stats: ExportStats) -> None:
            self._check_size(snapshot, name, stats)

        try:
            if name == "customers":
                return await self.polar.export_customers(sink, organization_ids, progress=check)
            if name == "subscriptions":
                return await self.polar.export_subscriptions(sink, organization_ids, progress=check)
            if name == "orders":
                return await self.polar.export_orders(sink, organization_ids, progress=check)
            products = [product_row(item) for item in await self.polar.all_products(organization_ids)]
        except ScopeError as exc:
            scope = TABLES[name].scope
            raise ScopeError(
                f"The statement reads the {name} table, which needs the {scope} scope: add {scope} to the "
                f"token in {SCOPE_HELP}, put it in POLAR_ACCESS_TOKEN and restart the MCP server. "
                f"Statements that do not read {name} work as they are.",
                status_code=exc.status_code,
            ) from None
        stats = ExportStats(customers=len(products), bytes=len(json.dumps(products)))
        check(stats)
        await sink(products)
        return stats


@dataclass(frozen=True)
class _Counted:
    rows: int
    without_customer: int = 0
    without_product: int = 0
    relinked: dict[str, tuple[int, int]] = field(default_factory=dict)
    """The unlinked counts of billing tables linked again to a new customers or products table."""


def _empty_database(clock: Clock) -> ReadOnlyDatabase:
    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    # Nothing to roll back to: a load that fails is dropped whole.
    conn.execute("PRAGMA journal_mode = OFF")
    # ANALYZE reads a sample of each index, not all of it: about a millisecond for every table.
    conn.execute("PRAGMA analysis_limit = 400")
    create_empty(conn)
    return ReadOnlyDatabase(conn, {name: table.columns for name, table in TABLES.items()}, clock)


def _begin_load(database: ReadOnlyDatabase, create: str, staging: str) -> None:
    with database.writing() as conn:
        conn.execute(f"DROP TABLE IF EXISTS {staging}")
        conn.execute(create)


def _insert(database: ReadOnlyDatabase, insert: str, batch: list[Any]) -> None:
    with database.writing() as conn:
        conn.execute("BEGIN")
        conn.executemany(insert, batch)
        conn.execute("COMMIT")


def _drop(database: ReadOnlyDatabase, staging: str) -> None:
    with database.writing() as conn:
        conn.execute(f"DROP TABLE IF EXISTS {staging}")


def _finish_load(database: ReadOnlyDatabase, name: str, staging: str, loaded: Sequence[str]) -> _Counted:
    """Put the loaded table in place of the old one, indexed, and link the billing tables to it."""
    table = TABLES[name]
    with database.writing() as conn:
        conn.execute("BEGIN")
        conn.execute(f"DROP TABLE {name}")
        conn.execute(f"ALTER TABLE {staging} RENAME TO {name}")
        for index in table.indexes():
            conn.execute(index)
        (rows,) = conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()
        # A billing table links as it arrives; new customers or products re-link those already here.
        relink = [
            t for t in BILLING_TABLES if t == name or (name in ("customers", "products") and t in loaded)
        ]
        if relink:
            link(conn, relink)
        # Statistics let the planner pick the selective side of a join: "top customers by amount paid"
        # then walks the customers and seeks their orders, in half the time of a scan of every order.
        for analyzed in dict.fromkeys((name, *relink)):
            conn.execute(f"ANALYZE {analyzed}")
        conn.execute("COMMIT")
        if name in BILLING_TABLES:
            return _Counted(int(rows), *unlinked(conn, name))
        return _Counted(int(rows), relinked={other: unlinked(conn, other) for other in relink})
