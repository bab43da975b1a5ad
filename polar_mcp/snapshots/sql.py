"""Running a model's SQL safely over a snapshot: read-only, one statement, bounded in time, rows and size.

Four walls, each enough alone for its concern: the statement must start with SELECT, WITH or VALUES;
SQLite's authorizer lets it read only the `customers` table (and the JSON table functions) and call
functions other than `load_extension`; a progress handler stops it after `TIME_LIMIT` seconds; and
length limits keep any one value or statement small. Every refusal is a `QueryError` whose message
says what to change.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
PROGRESS_STEPS = 2_000
"""SQLite virtual machine steps between two looks at the clock."""

READABLE_TABLES = frozenset({"customers", "json_each", "json_tree"})
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


class _Guard:
    """The authorizer and progress handler of one connection, and what they last refused."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.deadline = float("inf")
        self.refused: str | None = None

    def authorize(
        self, action: int, arg1: str | None, arg2: str | None, database: str | None, _trigger: str | None
    ) -> int:
        if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE):
            return sqlite3.SQLITE_OK
        # A recursive CTE reading itself is a read outside any database.
        if action == sqlite3.SQLITE_READ and (arg1 in READABLE_TABLES or database is None):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() != "load_extension":
            return sqlite3.SQLITE_OK
        if self.refused is None:  # the first refusal is the one to explain
            self.refused = _refusal(action, arg1)
        return sqlite3.SQLITE_DENY

    def progress(self) -> int:
        # A non-zero answer makes SQLite abandon the statement with "interrupted".
        return 1 if self.clock() > self.deadline else 0


def _refusal(action: int, table: str | None) -> str:
    if action == sqlite3.SQLITE_READ:
        return f"reading {table}"
    if action == sqlite3.SQLITE_FUNCTION:
        return "load_extension"
    if table is not None and table.lower().startswith("sqlite_"):
        # A table-valued function registers itself in the schema on first use.
        return "that table-valued function (json_each and json_tree are available)"
    return _ACTIONS.get(action, "creating or changing objects")


class ReadOnlyDatabase:
    """A loaded SQLite connection, locked down for a model's statements; safe to share between threads.

    A lock keeps any two threads from using the connection at once: statements run one at a time,
    each within `TIME_LIMIT`, so a waiting caller waits a bounded time.
    """

    def __init__(
        self, conn: sqlite3.Connection, columns: Sequence[str], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.columns = list(columns)
        self._conn = conn
        self._lock = threading.Lock()
        self._guard = _Guard(clock)
        with self._lock:
            # Table-valued functions register themselves on first use, which writes to the schema:
            # use them once, before the authorizer would refuse that.
            conn.execute("SELECT * FROM json_each('[]'), json_tree('[]')").fetchall()
            conn.execute("PRAGMA query_only = ON")
            conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
            conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_CHARS * 4)
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            conn.set_authorizer(self._guard.authorize)
            conn.set_progress_handler(self._guard.progress, PROGRESS_STEPS)

    def query(self, sql: str, *, max_rows: int = MAX_ROWS, time_limit: float = TIME_LIMIT) -> QueryResult:
        """Run one read-only statement; blocking, so call it from a worker thread.

        Raises `QueryError` with a message that says what to change.
        """
        _check_statement(sql, self.columns)
        with self._lock:
            return self._run(sql, max_rows, time_limit)

    def _run(self, sql: str, max_rows: int, time_limit: float) -> QueryResult:
        guard = self._guard
        guard.refused = None
        guard.deadline = guard.clock() + time_limit
        try:
            cursor = self._conn.execute(sql)
            first = cursor.fetchmany(max_rows)
            names = [item[0] for item in cursor.description or ()]
            count, counted = len(first), True
            try:
                for _ in cursor:
                    count += 1
            except sqlite3.OperationalError as exc:
                if not _interrupted(exc):
                    raise
                counted = False
            return QueryResult(names, first, count, counted)
        except sqlite3.Error as exc:
            raise _explain(exc, guard, self.columns, time_limit) from None
        finally:
            guard.deadline = float("inf")


def _check_statement(sql: str, columns: Sequence[str]) -> None:
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
            f"changed; query the customers table ({', '.join(columns)})."
        )


def _interrupted(exc: sqlite3.Error) -> bool:
    return "interrupted" in str(exc).lower()


def _explain(exc: sqlite3.Error, guard: _Guard, columns: Sequence[str], time_limit: float) -> QueryError:
    message = str(exc)
    if _interrupted(exc):
        return QueryError(
            f"The statement was stopped after {time_limit:g} seconds, the time limit. Narrow it: avoid "
            "joining customers with itself, give recursive CTEs an end (WHERE n < ... or LIMIT), and "
            "aggregate with GROUP BY."
        )
    if guard.refused is not None or "not authorized" in message:
        what = guard.refused or "that"
        return QueryError(
            f"Refused: {what} is not allowed. Only reading the customers table (and functions such as "
            "json_extract, strftime, json_each) is; write one SELECT statement."
        )
    if isinstance(exc, sqlite3.ProgrammingError) and "one statement" in message:
        return QueryError("Only one statement can run per call: remove everything after the first ';'.")
    if "too big" in message:
        return QueryError(
            f"SQLite stopped: {message} (values are limited to {MAX_VALUE_BYTES:,} bytes). "
            "Aggregate instead of concatenating many rows."
        )
    return QueryError(
        f"SQLite rejected the statement: {message}. Table customers has columns {', '.join(columns)}."
    )
