"""Running a model's SQL safely over a snapshot: read-only, one statement, bounded in time, rows and size.

Four walls, each enough alone for its concern: the statement must start with SELECT, WITH or VALUES;
SQLite's authorizer lets it read only the snapshot's tables (and the JSON table functions) and call
only the functions of `ALLOWED_FUNCTIONS`; a time limit stops it after `TIME_LIMIT` seconds, from
outside (`Connection.interrupt`, which also stops a long step) as well as between steps; and length
limits keep any one value, row or statement small. The SQLite functions whose one step could take
quadratic time (`instr`, `replace`, `trim`) are replaced by linear ones. The answer is fetched a row at
a time in the worker thread, each value shaped (cut, cleaned) as it arrives, and stops being kept at a
size budget. Every refusal is a `QueryError` whose message says what to change.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polar_mcp.errors import QueryError

__all__ = [
    "MAX_ROWS",
    "MAX_SQL_CHARS",
    "TIME_LIMIT",
    "QueryResult",
    "ReadOnlyDatabase",
]

MAX_ROWS = 200
"""Rows a result carries; the rest are counted, not returned."""
MAX_SQL_CHARS = 10_000
TIME_LIMIT = 2.0
"""Seconds a statement may run, counting the rows past `MAX_ROWS` included."""
MAX_VALUE_BYTES = 1_000_000
"""The largest string or blob a statement may build (SQLite's SQLITE_LIMIT_LENGTH)."""
MAX_COLUMNS = 100
"""Columns a statement may produce or name (SQLITE_LIMIT_COLUMN): a row of the answer stays bounded."""
MAX_LIKE_PATTERN = 200
"""Characters of a LIKE or GLOB pattern: the matcher's work grows with the pattern."""
MAX_ANSWER_CHARS = 200_000
"""Characters of shaped values an answer keeps; past them rows are counted, not kept."""
PROGRESS_STEPS = 2_000
"""SQLite virtual machine steps between two looks at the clock."""

TABLE_FUNCTIONS = frozenset({"json_each", "json_tree"})
_OPENS = frozenset({"OpenRead", "OpenWrite", "ReopenIdx"})
"""Table-valued functions a statement may read, beside the snapshot's own tables."""
_FUNCTION_GROUPS = {
    "text": "char coalesce concat concat_ws format glob hex ifnull iif instr length like likelihood likely "
    "lower ltrim nullif octet_length printf quote random replace round rtrim soundex substr substring trim "
    "typeof unhex unicode unlikely upper",
    "date and time": "current_date current_time current_timestamp date datetime julianday strftime time "
    "timediff unixepoch",
    "math": "abs acos acosh asin asinh atan atan2 atanh ceil ceiling cos cosh degrees exp floor ln log log10 "
    "log2 max min mod pi pow power radians sign sin sinh sqrt tan tanh trunc",
    "JSON": "-> ->> json json_array json_array_length json_error_position json_extract json_group_array "
    "json_group_object json_insert json_object json_patch json_pretty json_quote json_remove json_replace "
    "json_set json_type json_valid",
    "blobs (bounded by MAX_VALUE_BYTES)": "randomblob zeroblob",
    "aggregates and windows": "avg count group_concat string_agg sum total cume_dist dense_rank first_value "
    "lag last_value lead nth_value ntile percent_rank rank row_number",
}
ALLOWED_FUNCTIONS = frozenset(name for names in _FUNCTION_GROUPS.values() for name in names.split())
"""Every function a statement may call. Anything else (load_extension, fts3_tokenizer, the RTREE and
FTS internals, sqlite_* introspection, whatever a build adds) is refused."""
_STARTS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*(\w*)", re.DOTALL)
_ACTIONS = {
    sqlite3.SQLITE_ATTACH: "ATTACH",
    sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_PRAGMA: "PRAGMA",
    sqlite3.SQLITE_INSERT: "INSERT",
    sqlite3.SQLITE_UPDATE: "UPDATE",
    sqlite3.SQLITE_DELETE: "DELETE",
    sqlite3.SQLITE_TRANSACTION: "transactions",
    sqlite3.SQLITE_SAVEPOINT: "savepoints",
    sqlite3.SQLITE_ANALYZE: "ANALYZE",
    sqlite3.SQLITE_REINDEX: "REINDEX",
}


@dataclass(frozen=True)
class QueryResult:
    """The first rows of a statement's answer, and how many rows the whole answer has."""

    columns: list[str]
    rows: list[tuple[Any, ...]]
    row_count: int
    """Rows of the whole answer; at least `len(rows)`."""
    counted: bool = True
    """False when the time ran out while counting: then `row_count` is a lower bound."""

    @property
    def truncated(self) -> bool:
        return self.row_count > len(self.rows)


Shape = Callable[[Any], Any]
"""What becomes of each value of the answer before it is kept, run in the worker thread."""


class Ticket:
    """One statement's claim on a database: cancelling it ends the statement, running or still waiting."""

    def __init__(self) -> None:
        self.cancelled = False
        self.timed_out = False

    @property
    def withdrawn(self) -> bool:
        """Cancelled by its caller (or a shutdown), not stopped by the time limit."""
        return self.cancelled and not self.timed_out


class _Guard:
    """The authorizer and progress handler of one connection, and what they last refused."""

    def __init__(self, clock: Callable[[], float], tables: frozenset[str]) -> None:
        self.clock = clock
        self.readable = tables | TABLE_FUNCTIONS
        self.deadline = float("inf")
        self.refused: str | None = None
        self.failed: str | None = None
        """Why one of our own functions gave up (its result would be too large)."""

    def authorize(
        self, action: int, arg1: str | None, arg2: str | None, database: str | None, _trigger: str | None
    ) -> int:
        if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE):
            return sqlite3.SQLITE_OK
        # A recursive CTE reading itself is a read outside any database.
        if action == sqlite3.SQLITE_READ and (arg1 in self.readable or database is None):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in ALLOWED_FUNCTIONS:
            return sqlite3.SQLITE_OK
        if self.refused is None:  # the first refusal is the one to explain
            self.refused = _refusal(action, arg1, arg2)
        return sqlite3.SQLITE_DENY

    def progress(self) -> int:
        # A non-zero answer makes SQLite abandon the statement with "interrupted".
        return 1 if self.clock() > self.deadline else 0


def _refusal(action: int, table: str | None, function: str | None) -> str:
    if action == sqlite3.SQLITE_READ:
        return f"reading {table}"
    if action == sqlite3.SQLITE_FUNCTION:
        return str(function)
    if table is not None and table.lower().startswith("sqlite_"):
        # A table-valued function registers itself in the schema on first use.
        return "that table-valued function (json_each and json_tree are available)"
    return _ACTIONS.get(action, "creating or changing objects")


class ReadOnlyDatabase:
    """A loaded SQLite connection, locked down for a model's statements; safe to share between threads.

    A lock keeps any two threads from using the connection at once: statements run one at a time,
    each within its time limit, so a waiting caller waits a bounded time. Which tables a statement
    reads is found on a second connection holding the schema alone, so finding it never waits behind a
    running statement: only the turns decide who waits, and how fairly.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        tables: Mapping[str, Sequence[str]] | Sequence[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # A plain list of columns is the one table `customers`.
        self.tables = dict(tables) if isinstance(tables, Mapping) else {"customers": list(tables)}
        self.columns = list(self.tables.get("customers", ()))
        self._conn = conn
        self._lock = threading.Lock()
        self._running_lock = threading.Lock()  # guards `_running` against a cancel from another thread
        self._running: Ticket | None = None
        self._guard = _Guard(clock, frozenset(self.tables))
        # The schema alone, empty, walled in the same way: `tables_read` compiles statements there.
        self._schema = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._schema_lock = threading.Lock()
        self._schema_version = -1
        self._schema_guard = _Guard(clock, frozenset(self.tables))
        with self._schema_lock:
            _lock_down(self._schema, self._schema_guard)
        with self._lock:
            self._copy_schema()
            _lock_down(conn, self._guard)

    def query(
        self,
        sql: str,
        *,
        max_rows: int = MAX_ROWS,
        time_limit: float = TIME_LIMIT,
        shape: Shape | None = None,
        max_answer_chars: int = MAX_ANSWER_CHARS,
        ticket: Ticket | None = None,
        wait: float | None = None,
    ) -> QueryResult:
        """Run one read-only statement; blocking, so call it from a worker thread.

        Each value of the kept rows goes through `shape`; rows stop being kept once their values add up
        to `max_answer_chars`. `wait` bounds how long the statement waits for the connection (None:
        as long as it takes). Raises `QueryError` with a message that says what to change.
        """
        _check_statement(sql, self.tables)
        ticket = ticket or Ticket()
        if not self._lock.acquire(timeout=-1 if wait is None else wait):
            raise busy_error(wait or 0.0)
        try:
            if ticket.cancelled:
                raise QueryError("The statement was cancelled before it ran.")
            return self._run(sql, max_rows, time_limit, shape, max_answer_chars, ticket)
        finally:
            self._lock.release()

    def tables_read(self, sql: str) -> set[str]:
        """The snapshot tables `sql` reads, from its compiled program (`EXPLAIN`, which runs nothing):
        each table or index it opens, by root page. A statement that cannot be compiled reads nothing;
        running it then explains why."""
        _check_statement(sql, self.tables)
        with self._schema_lock:
            self._schema.set_authorizer(None)  # our own read of the schema, not the statement's
            try:
                roots = dict(
                    self._schema.execute(
                        "SELECT rootpage, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"
                    ).fetchall()
                )
            finally:
                self._schema.set_authorizer(self._schema_guard.authorize)
            try:
                program = self._schema.execute(f"EXPLAIN {sql}").fetchall()
            except (sqlite3.Error, sqlite3.Warning):
                return set()
        # EXPLAIN rows: addr, opcode, p1, p2, p3, ...; an open of database 0 (main) names a root page.
        opened = {roots.get(row[3]) for row in program if row[1] in _OPENS and row[4] == 0}
        return {name for name in opened if isinstance(name, str) and name in self.tables}

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """The connection itself, unguarded, for loading a table: blocking, so use it in a worker thread.
        Statements wait meanwhile; the walls are back in place when the block ends."""
        with self._lock, _unwalled(self._conn, self._guard) as conn:
            try:
                yield conn
            finally:
                self._copy_schema()

    def _copy_schema(self) -> None:
        """Give the schema connection the tables and indexes of the loaded one, when they changed; called
        inside `writing`, or before the walls go up."""
        (version,) = self._conn.execute("PRAGMA schema_version").fetchone()
        if version == self._schema_version:
            return
        objects = self._conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
            "ORDER BY type = 'index'"
        ).fetchall()
        with self._schema_lock, _unwalled(self._schema, self._schema_guard) as schema:
            for (name,) in schema.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall():
                schema.execute(f'DROP TABLE "{name}"')  # its indexes go with it
            for _, _, sql in objects:
                schema.execute(sql)
        self._schema_version = version

    def rows(self, table: str) -> Iterator[tuple[Any, ...]]:
        """Every row of one of its tables, for a whole-table export; statements wait meanwhile."""
        if table not in self.tables:
            raise ValueError(f"no table {table!r}")
        with self.writing() as conn:
            yield from conn.execute(f"SELECT * FROM {table}")

    def copy_to(self, path: Path) -> None:
        """Write every table into the SQLite file `path` (replaced), as any SQLite tool opens it."""
        with self.writing() as conn:
            target = sqlite3.connect(path)
            try:
                conn.backup(target)
            finally:
                target.close()

    def cancel(self, ticket: Ticket) -> None:
        """End the statement of `ticket`: at once if it runs (even inside one long step), before it starts
        if it still waits. Safe from any thread."""
        with self._running_lock:
            ticket.cancelled = True
            if self._running is ticket:
                self._conn.interrupt()

    def _time_out(self, ticket: Ticket) -> None:
        ticket.timed_out = True
        self.cancel(ticket)

    def _run(
        self,
        sql: str,
        max_rows: int,
        time_limit: float,
        shape: Shape | None,
        max_answer_chars: int,
        ticket: Ticket,
    ) -> QueryResult:
        guard = self._guard
        guard.refused = guard.failed = None
        guard.deadline = guard.clock() + time_limit
        # The progress handler looks at the clock between steps; this ends a step that runs long.
        timer = threading.Timer(time_limit, self._time_out, args=(ticket,))
        timer.daemon = True
        with self._running_lock:
            self._running = ticket
        timer.start()
        try:
            cursor = self._conn.execute(sql)
            names = [item[0] for item in cursor.description or ()]
            first: list[tuple[Any, ...]] = []
            count, counted, kept, keeping = 0, True, 0, True
            try:
                for row in cursor:
                    count += 1
                    if keeping:
                        shaped = row if shape is None else tuple(shape(value) for value in row)
                        kept += sum(len(value) if isinstance(value, str) else 8 for value in shaped)
                        first.append(shaped)
                        keeping = len(first) < max_rows and kept < max_answer_chars
            except sqlite3.OperationalError as exc:
                # Out of time while only counting the rest: the count is a lower bound.
                if keeping or not _interrupted(exc) or ticket.withdrawn:
                    raise
                counted = False
            return QueryResult(names, first, count, counted)
        except sqlite3.Error as exc:
            raise _explain(exc, guard, self.tables, time_limit, ticket, sql) from None
        finally:
            timer.cancel()
            with self._running_lock:
                self._running = None
            guard.deadline = float("inf")


def busy_error(wait: float) -> QueryError:
    """A statement that could not get its turn within `wait` seconds."""
    return QueryError(
        f"The snapshot is busy with other statements (waited {wait:g} seconds for a turn). Retry in a few "
        "seconds; a narrower statement (GROUP BY, LIMIT) takes its turn for less time."
    )


@contextmanager
def _unwalled(conn: sqlite3.Connection, guard: _Guard) -> Iterator[sqlite3.Connection]:
    """`conn` writable and without its authorizer for the block (a load, or a copy of the schema)."""
    conn.set_authorizer(None)
    conn.execute("PRAGMA query_only = OFF")
    try:
        yield conn
    finally:
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(guard.authorize)


def _lock_down(conn: sqlite3.Connection, guard: _Guard) -> None:
    """The walls of a statement's connection: read-only, bounded values and statements, nothing attached,
    linear string functions, the authorizer and the clock."""
    # Table-valued functions register themselves on first use, which writes to the schema: use them
    # once, before the authorizer would refuse that.
    conn.execute("SELECT * FROM json_each('[]'), json_tree('[]')").fetchall()
    conn.execute("PRAGMA query_only = ON")
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_CHARS * 4)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, MAX_COLUMNS)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, MAX_LIKE_PATTERN)
    _install_linear_functions(conn, guard)
    conn.set_authorizer(guard.authorize)
    conn.set_progress_handler(guard.progress, PROGRESS_STEPS)


def _install_linear_functions(conn: sqlite3.Connection, guard: _Guard) -> None:
    """SQLite's `instr`, `replace` and `trim` compare every position with the whole needle: on two
    long values one call is a single step of quadratic time that nothing can interrupt. These give the
    same answers in linear time (Python's string search)."""

    def text(value: Any) -> Any:
        return value if isinstance(value, str | bytes) or value is None else str(value)

    def instr(haystack: Any, needle: Any) -> Any:
        haystack, needle = text(haystack), text(needle)
        if haystack is None or needle is None:
            return None
        if isinstance(haystack, bytes) != isinstance(needle, bytes):
            haystack, needle = _as_text(haystack), _as_text(needle)
        return haystack.find(needle) + 1

    def replace(value: Any, old: Any, new: Any) -> Any:
        value, old, new = text(value), text(old), text(new)
        if value is None or old is None or new is None:
            return None
        value, old, new = _as_text(value), _as_text(old), _as_text(new)
        if not old:
            return value
        grows = value.count(old) * (len(new) - len(old))
        if len(value) + grows > MAX_VALUE_BYTES:
            guard.failed = (
                f"string or blob too big: replace() would build more than {MAX_VALUE_BYTES:,} characters"
            )
            raise ValueError(guard.failed)
        return value.replace(old, new)

    def trimmer(side: str) -> Callable[..., Any]:
        def trim(value: Any, characters: Any = " ") -> Any:
            value, characters = text(value), text(characters)
            if value is None or characters is None:
                return None
            value, drop = _as_text(value), frozenset(_as_text(characters))
            start, end = 0, len(value)
            if side in ("both", "left"):
                while start < end and value[start] in drop:
                    start += 1
            if side in ("both", "right"):
                while end > start and value[end - 1] in drop:
                    end -= 1
            return value[start:end]

        return trim

    conn.create_function("instr", 2, instr, deterministic=True)
    conn.create_function("replace", 3, replace, deterministic=True)
    for name, side in (("trim", "both"), ("ltrim", "left"), ("rtrim", "right")):
        for arguments in (1, 2):
            conn.create_function(name, arguments, trimmer(side), deterministic=True)


def _as_text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _check_statement(sql: str, tables: Mapping[str, Sequence[str]]) -> None:
    match = _STARTS.match(sql)
    keyword = match.group(1).upper() if match else ""
    if not keyword and (match is None or not sql[match.end() :].strip()):
        raise QueryError(
            "The sql argument holds no statement. Give one SELECT on the customers table, e.g. "
            "SELECT country, COUNT(*) FROM customers GROUP BY country."
        )
    if keyword not in ("SELECT", "WITH", "VALUES"):
        shown = keyword or sql.strip()[:20]
        raise QueryError(
            f"Only a read-only SELECT (or WITH ... SELECT) can run, not {shown}. The snapshot cannot be "
            f"changed; query {_tables_text(tables, sql) if len(tables) == 1 else _table_names(tables)}."
        )


def _interrupted(exc: sqlite3.Error) -> bool:
    return "interrupted" in str(exc).lower()


def _explain(
    exc: sqlite3.Error,
    guard: _Guard,
    tables: Mapping[str, Sequence[str]],
    time_limit: float,
    ticket: Ticket,
    sql: str = "",
) -> QueryError:
    message = str(exc)
    if _interrupted(exc) and ticket.withdrawn:
        return QueryError("The statement was cancelled: its caller went away or the server is stopping.")
    if _interrupted(exc):
        return QueryError(
            f"The statement was stopped after {time_limit:g} seconds, the time limit. Narrow it: avoid "
            "joining customers with itself, give recursive CTEs an end (WHERE n < ... or LIMIT), and "
            "aggregate with GROUP BY."
        )
    if guard.failed is not None:
        return QueryError(
            f"SQLite stopped: {guard.failed} (values are limited to {MAX_VALUE_BYTES:,} bytes). "
            "Aggregate instead of concatenating many rows."
        )
    if guard.refused is not None or "not authorized" in message:
        what = guard.refused or "that"
        return QueryError(
            f"Refused: {what} is not allowed. Only reading {_table_names(tables)} (and functions such as "
            "json_extract, strftime, json_each) is; write one SELECT statement."
        )
    if isinstance(exc, sqlite3.ProgrammingError) and "one statement" in message:
        return QueryError("Only one statement can run per call: remove everything after the first ';'.")
    if "too big" in message:
        return QueryError(
            f"SQLite stopped: {message} (values are limited to {MAX_VALUE_BYTES:,} bytes). "
            "Aggregate instead of concatenating many rows."
        )
    described = _tables_text(tables, sql)
    return QueryError(f"SQLite rejected the statement: {message}. {described[0].upper()}{described[1:]}.")


def _table_names(tables: Mapping[str, Sequence[str]]) -> str:
    names = list(tables)
    if len(names) == 1:
        return f"the {names[0]} table"
    return f"the tables {', '.join(names[:-1])} and {names[-1]}"


def _tables_text(tables: Mapping[str, Sequence[str]], sql: str) -> str:
    """`table customers has columns id, ...`: of each table the statement names, so that a misspelt
    column is found in the answer; when it names none of several, their names."""
    named = {name: columns for name, columns in tables.items() if re.search(rf"\b{name}\b", sql, re.I)}
    if not named and len(tables) > 1:
        return f"the snapshot's tables are {_table_names(tables).removeprefix('the tables ')}"
    return "; ".join(
        f"table {name} has columns {', '.join(columns)}" for name, columns in (named or tables).items()
    )
