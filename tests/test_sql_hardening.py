"""One caller's SQL cannot stop the server for others: statements end on time and on cancel, even inside one
long step; only listed functions run; an answer is cut before it is cleaned and bounded in size."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest

from polar_mcp.errors import QueryError
from polar_mcp.sanitize import clean
from polar_mcp.snapshots.sql import ALLOWED_FUNCTIONS, MAX_COLUMNS, ReadOnlyDatabase, Ticket
from polar_mcp.snapshots.store import Snapshot
from polar_mcp.snapshots.turns import FairLine, StatementGate, statement_caller
from polar_mcp.tools import query_customers

pytestmark = pytest.mark.anyio

ENDLESS = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT n FROM c"
WAIT = 10.0  # seconds any wait in these tests may take before the test fails


def frozen() -> float:
    """A clock that never moves: the progress handler never sees a deadline pass."""
    return 0.0


def database(clock: Callable[[], float] = frozen) -> ReadOnlyDatabase:
    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    conn.execute("CREATE TABLE customers (id TEXT, name TEXT)")
    conn.executemany("INSERT INTO customers VALUES (?, ?)", [(str(n), f"name {n}") for n in range(50)])
    return ReadOnlyDatabase(conn, ["id", "name"], clock=clock)


class Running:
    """A `shape` that says when the statement has started delivering rows."""

    def __init__(self) -> None:
        self.started = threading.Event()

    def __call__(self, value: Any) -> Any:
        self.started.set()
        return value


def run_in_thread(db: ReadOnlyDatabase, sql: str, **options: Any) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(db.query(sql, **options))
        except QueryError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


async def test_the_time_limit_stops_a_statement_from_outside_even_when_steps_never_look_at_the_clock() -> (
    None
):
    # With a clock that never moves only the interrupt from outside can end an endless statement.
    db = database()
    thread, outcome = run_in_thread(db, f"{ENDLESS} WHERE n < 0", time_limit=0.2)
    thread.join(WAIT)
    assert not thread.is_alive()
    assert isinstance(outcome[0], QueryError) and "stopped after 0.2 seconds" in str(outcome[0])
    # Stopped while only counting rows past those kept, the count is a lower bound.
    thread, outcome = run_in_thread(db, ENDLESS, time_limit=0.2, max_rows=1)
    thread.join(WAIT)
    assert not thread.is_alive() and outcome[0].rows == [(1,)] and outcome[0].counted is False


async def test_cancel_ends_a_running_statement_and_frees_the_connection() -> None:
    db, running, ticket = database(), Running(), Ticket()
    thread, outcome = run_in_thread(db, ENDLESS, time_limit=3600, shape=running, ticket=ticket)
    assert running.started.wait(WAIT)
    db.cancel(ticket)
    thread.join(WAIT)
    assert not thread.is_alive()
    assert isinstance(outcome[0], QueryError) and "cancelled" in str(outcome[0])
    assert db.query("SELECT COUNT(*) FROM customers").rows == [(50,)]


async def test_a_cancelled_statement_that_still_waits_never_runs() -> None:
    db, running, first, second = database(), Running(), Ticket(), Ticket()
    holder, _ = run_in_thread(db, ENDLESS, time_limit=3600, shape=running, ticket=first)
    assert running.started.wait(WAIT)
    waiter, outcome = run_in_thread(db, "SELECT COUNT(*) FROM customers", ticket=second)
    db.cancel(second)
    db.cancel(first)
    for thread in (holder, waiter):
        thread.join(WAIT)
        assert not thread.is_alive()
    assert isinstance(outcome[0], QueryError) and "before it ran" in str(outcome[0])


async def test_a_statement_that_cannot_get_the_connection_in_time_is_told_to_retry() -> None:
    db, running, first = database(), Running(), Ticket()
    holder, _ = run_in_thread(db, ENDLESS, time_limit=3600, shape=running, ticket=first)
    assert running.started.wait(WAIT)
    with pytest.raises(QueryError, match="busy"):
        db.query("SELECT 1", wait=0.05)
    db.cancel(first)
    holder.join(WAIT)


async def test_finding_the_tables_a_statement_reads_never_waits_behind_a_running_statement() -> None:
    # Otherwise a caller's statement would wait for the connection outside its fair turn, behind
    # every statement of whoever holds the turns.
    db, running, first = database(), Running(), Ticket()
    holder, _ = run_in_thread(db, ENDLESS, time_limit=3600, shape=running, ticket=first)
    assert running.started.wait(WAIT)
    found: list[set[str]] = []
    finder = threading.Thread(target=lambda: found.append(db.tables_read("SELECT name FROM customers")))
    finder.start()
    finder.join(WAIT)
    running_still = holder.is_alive()
    db.cancel(first)
    holder.join(WAIT)
    assert found == [{"customers"}] and running_still


async def test_the_tables_read_follow_the_schema_as_tables_are_loaded() -> None:
    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    conn.execute("CREATE TABLE customers (id TEXT, name TEXT)")
    tables = {"customers": ["id", "name"], "orders": ["customer_id", "net_amount"]}
    db = ReadOnlyDatabase(conn, tables, clock=frozen)
    assert db.tables_read("SELECT * FROM orders") == set()  # no such table yet: it reads nothing
    with db.writing() as writable:
        writable.execute("CREATE TABLE orders (customer_id TEXT, net_amount INTEGER)")
        writable.execute("CREATE INDEX orders_customer_id ON orders (customer_id, net_amount)")
    sql = "SELECT c.name, SUM(o.net_amount) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY 1"
    assert db.tables_read(sql) == {"customers", "orders"}
    assert db.tables_read("SELECT customer_id FROM orders WHERE customer_id > 'a'") == {"orders"}


async def test_a_caller_that_goes_away_ends_its_statement_and_the_next_one_runs() -> None:
    db, running = database(), Running()
    snapshot = Snapshot(database=db)
    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as group:

            async def endless() -> None:
                await snapshot.query(ENDLESS, time_limit=3600, shape=running)

            group.start_soon(endless)
            assert await anyio.to_thread.run_sync(running.started.wait, WAIT)
            group.cancel_scope.cancel()
        answer = await snapshot.query("SELECT COUNT(*) FROM customers")
    assert answer.rows == [(50,)]


async def test_the_gate_lets_a_few_statements_run_at_once_and_tells_the_next_busy() -> None:
    gate, release = StatementGate(at_once=1, wait=0.05), anyio.Event()
    holding = anyio.Event()

    async def hold() -> None:
        async with gate.turn():
            holding.set()
            await release.wait()

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as group:
            group.start_soon(hold)
            await holding.wait()
            with pytest.raises(QueryError, match="busy"):
                async with gate.turn():
                    pass
            release.set()
        async with gate.turn():
            pass  # free again once the holder is done


def test_every_function_of_this_sqlite_build_that_is_not_listed_is_refused() -> None:
    listed = sqlite3.connect(":memory:").execute("PRAGMA function_list").fetchall()
    refused = sorted(
        {
            (name, arguments if arguments >= 0 else 1)
            for name, _, _, _, arguments, _ in listed
            if name not in ALLOWED_FUNCTIONS
        }
    )
    assert {"load_extension", "fts3_tokenizer", "rtreenode", "sqlite_version"} <= {
        name for name, _ in refused
    }
    db = database()
    for name, arguments in refused:
        with pytest.raises(QueryError, match=f"Refused: {name} is not allowed"):
            db.query(f"SELECT {name}({', '.join(['1'] * arguments)})")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT instr('hello world', 'o'), instr('abc', ''), instr('', 'a'), instr(12345, 34)",
        "SELECT instr(NULL, 'a'), instr('a', NULL)",
        "SELECT instr('naïve café', 'é'), instr(x'00010203', x'0203'), instr('abc', 'abcd')",
        "SELECT replace('a.b.c', '.', '--'), replace('abc', '', 'x'), replace(NULL, 'a', 'b')",
        "SELECT replace(1.5, '.', ','), replace('aaa', 'a', ''), replace('x', 'x', NULL)",
        "SELECT trim('  x  '), ltrim('  x  '), rtrim('  x  '), trim('xxhixx', 'x'), ltrim('abcba', 'ab')",
        "SELECT rtrim('abcba', 'ab'), trim(NULL), trim('x', NULL), trim('ééaéé', 'é'), trim(123, '1')",
    ],
)
def test_the_linear_string_functions_answer_as_sqlites_own(sql: str) -> None:
    plain = sqlite3.connect(":memory:").execute(sql).fetchall()
    assert database().query(sql).rows == plain


def test_instr_and_replace_on_long_values_are_one_cheap_step() -> None:
    # SQLite's own instr compares the needle at every position: quadratic in one uninterruptible step.
    # Here the needle is absent and nearly matches everywhere; the statement must finish, not time out.
    sql = (
        "WITH t(h, n) AS (SELECT replace(hex(zeroblob(499999)), '0', 'a'), "
        "replace(hex(zeroblob(250000)), '0', 'a') || 'b') "
        "SELECT instr(h, n), length(replace(h, n, '')) FROM t"
    )
    # Linear, it takes milliseconds; quadratic, it would outlast the limit by far and be stopped.
    assert database().query(sql, time_limit=2.0).rows == [(0, 999_998)]


def test_replace_that_would_build_a_huge_value_is_refused_before_it_is_built() -> None:
    with pytest.raises(QueryError, match="too big"):
        database().query("SELECT replace(hex(zeroblob(300000)), '0', hex(zeroblob(100)))")


def test_an_answer_with_too_many_columns_is_refused() -> None:
    columns = ", ".join(f"{n} AS c{n}" for n in range(MAX_COLUMNS + 1))
    with pytest.raises(QueryError, match="too many columns"):
        database().query(f"SELECT {columns}")


def test_rows_stop_being_kept_at_the_answer_budget_and_are_still_counted() -> None:
    result = database().query("SELECT name FROM customers", max_answer_chars=40, shape=lambda v: v)
    kept = sum(len(row[0]) for row in result.rows)
    assert 40 <= kept < 40 + len("name 49") and result.row_count == 50 and result.counted


def test_a_long_value_is_cut_before_it_is_cleaned(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def recording_clean(text: str) -> str:
        seen.append(len(text))
        return clean(text)

    monkeypatch.setattr("polar_mcp.tools.query_customers.clean", recording_clean)
    invisible = "\u200b" * 1_000_000 + "visible"
    shown = query_customers.shown_value(invisible)
    assert max(seen) <= query_customers.MAX_CELL_CHARS * 4
    assert shown == f"…[cut {1_000_007 - query_customers.MAX_CELL_CHARS * 4:,} chars]"
    assert query_customers.shown_value("x" * 250) == "x" * 200 + "…[cut 50 chars]"
    assert query_customers.shown_value("a  b") == "a b"


def test_a_wide_answer_of_huge_values_keeps_only_what_is_shown() -> None:
    sql = "SELECT " + ", ".join(["hex(zeroblob(400000))"] * 5) + " FROM customers LIMIT 200"
    result = database().query(sql, shape=query_customers.shown_value)
    assert result.row_count == 50 and result.rows
    assert all(len(value) < 250 for row in result.rows for value in row)


async def test_one_caller_cannot_take_every_turn() -> None:
    gate, release, holding = StatementGate(at_once=2, wait=WAIT, per_caller=1), anyio.Event(), anyio.Event()

    async def hold() -> None:
        statement_caller.set("10.0.0.1")
        async with gate.turn():
            holding.set()
            await release.wait()

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as group:
            group.start_soon(hold)
            await holding.wait()
            token = statement_caller.set("10.0.0.1")
            with pytest.raises(QueryError, match="already have 1 statement running"):
                async with gate.turn():
                    pass  # refused at once: no wait for the caller's own turn to end
            statement_caller.reset(token)
            token = statement_caller.set("10.0.0.2")
            async with gate.turn():
                pass  # another caller still gets the free turn
            statement_caller.reset(token)
            release.set()


async def test_a_snapshot_lets_another_caller_go_before_a_callers_next_statement() -> None:
    line, order = FairLine(), []
    await line.enter("a")  # a's first statement runs
    queued = [anyio.Event(), anyio.Event()]

    async def wait_in_line(caller: str, ready: anyio.Event) -> None:
        entering = line.enter(caller)
        ready.set()
        await entering
        order.append(caller)
        line.leave(caller)

    with anyio.fail_after(WAIT):
        async with anyio.create_task_group() as group:
            group.start_soon(wait_in_line, "a", queued[0])  # a's second statement, first in line
            await queued[0].wait()
            await anyio.wait_all_tasks_blocked()
            group.start_soon(wait_in_line, "b", queued[1])
            await queued[1].wait()
            await anyio.wait_all_tasks_blocked()
            line.leave("a")
    assert order == ["b", "a"]
