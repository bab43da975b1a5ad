"""The query_customers tool through a real MCP client: right answers, safe SQL, shared snapshots."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import anyio
import httpx
import jsonschema
import pytest
import quicktok
from mcp import Client

from polar_mcp.config import Settings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar, Fault
from polar_mcp.demo.fake_export import EXPORT_HEADER
from polar_mcp.demo.organization import sample_customers
from polar_mcp.errors import AuthError
from polar_mcp.polar.client import PolarClient
from polar_mcp.server import PolarMCPServer, build_server
from polar_mcp.snapshots.sql import TIME_LIMIT
from polar_mcp.snapshots.store import SnapshotStore, snapshot_key
from polar_mcp.tools import TOOLS
from polar_mcp.tools.query_customers import snapshot_line
from tests.conftest import make_server
from tests.helpers import ORG, OTHER_ORG, caller, client_for, text_of

pytestmark = pytest.mark.anyio

TOKEN_BUDGET = 700  # the entry lists four tables' columns: the model writes SQL against them


@pytest.fixture(scope="module")
def many() -> list[dict[str, Any]]:
    """Enough customers for several months, countries and plans, and for a long answer."""
    return sample_customers(400, seed=11)


@pytest.fixture
def big_fake(many: list[dict[str, Any]]) -> FakePolar:
    return FakePolar(many)


call = caller("query_customers", seconds=20)


class StatementClock:
    """The clock a snapshot measures its statements' time limit on, moving `step` seconds each time it
    is read: SQLite reads it every `PROGRESS_STEPS` steps, so a statement that does not finish is
    stopped after the same number of steps however fast the machine runs them."""

    def __init__(self, step: float = 0.01) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class HeldClock(StatementClock):
    """A `StatementClock` that, once `holding`, tells when a statement next reads it (`read`) and keeps
    that statement waiting until `released` is set (10 s at most): it is certainly running meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = False
        self.read = threading.Event()
        self.released = threading.Event()

    def __call__(self) -> float:
        if self.holding:
            self.holding = False
            self.read.set()
            self.released.wait(10)
        return super().__call__()


def fast_server(fake: FakePolar, **settings: Any) -> PolarMCPServer:
    """A server whose statements run out of time after a set number of SQLite steps, not of seconds."""
    return make_server(fake, query_clock=StatementClock(), **settings)


def table_of(result: Any) -> tuple[list[str], list[list[str]]]:
    """The header and rows as the model reads them: the lines after the snapshot line."""
    assert not result.is_error, text_of(result)
    lines = text_of(result).splitlines()
    assert lines[0].startswith("Snapshot of ")
    header, *rows = lines[1:]
    return header.split("\t"), [row.split("\t") for row in rows if not row.startswith("Showing")]


def counts(result: Any) -> dict[str, int]:
    _, rows = table_of(result)
    return {key: int(value) for key, value in rows}


# --- the schema -----------------------------------------------------------------------------------


async def test_tools_are_registered_in_order() -> None:
    assert [tool.name for tool in TOOLS] == [
        "list_customers",
        "get_customer",
        "query_customers",
        "get_metrics",
    ]


async def test_tools_list_entry_fits_the_token_budget(server: PolarMCPServer) -> None:
    async with Client(server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    entry = tools["query_customers"].model_dump(mode="json", by_alias=True, exclude_none=True)
    tokens = quicktok.get_encoding("o200k_base").count(json.dumps(entry, ensure_ascii=False))
    assert tokens <= TOKEN_BUDGET


async def test_schema_bounds_every_argument_and_declares_the_result(server: PolarMCPServer) -> None:
    async with Client(server) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "query_customers")
    properties = tool.input_schema["properties"]
    assert list(properties) == ["sql", "refresh", "organization_id"]
    assert properties["sql"]["maxLength"] == 10_000
    assert tool.input_schema["required"] == ["sql"]
    assert tool.annotations is not None and tool.annotations.read_only_hint is True
    assert tool.output_schema is not None
    required = {"columns", "rows", "row_count", "truncated", "snapshot", "tables"}
    assert set(tool.output_schema["required"]) == required
    assert set(tool.output_schema["properties"]) == required  # the sample-data notice only in demo mode
    words = ("customers:", "subscriptions:", "orders:", "products:", "email_domain", "cancellation_reason")
    for word in (*words, "refunded_amount", "minor units", "customer_id and product_id are NULL"):
        assert word in (tool.description or "")


ANSWER_SHAPES = [
    "SELECT COUNT(*) FROM customers",
    "SELECT * FROM customers",
    "SELECT id FROM customers WHERE 0",
    "SELECT 1.5, NULL, x'00', 'text', 7",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 300) SELECT i FROM n",
]


@pytest.mark.parametrize("demo", [False, True], ids=["own data", "demo"])
async def test_the_output_schema_is_lean_and_validates_every_answer(fake: FakePolar, demo: bool) -> None:
    async with Client(make_server(fake, demo=demo)) as client:
        tool = next(t for t in (await client.list_tools()).tools if t.name == "query_customers")
        results = [await client.call_tool("query_customers", {"sql": sql}) for sql in ANSWER_SHAPES]
    schema = tool.output_schema
    assert schema is not None and "$defs" not in schema
    assert schema["required"] == ["columns", "rows", "row_count", "truncated", "snapshot", "tables"]
    assert schema["properties"].get("notice") == ({"type": "string"} if demo else None)
    assert any(result.structured_content["truncated"] for result in results)
    for result in results:
        assert not result.is_error, text_of(result)
        jsonschema.validate(result.structured_content, schema)


# --- answers against ground truth computed here from the fake's data --------------------------------


def country_of(customer: dict[str, Any]) -> str:
    return (customer.get("billing_address") or {}).get("country") or "NULL"


async def test_customers_per_country_match_the_data(big_fake: FakePolar) -> None:
    result = await call(
        make_server(big_fake), {"sql": "SELECT country, COUNT(*) FROM customers GROUP BY country"}
    )
    assert counts(result) == Counter(country_of(c) for c in big_fake.customers)


async def test_signups_per_month_match_the_data(big_fake: FakePolar) -> None:
    sql = "SELECT strftime('%Y-%m', created_at) AS month, COUNT(*) FROM customers GROUP BY month"
    result = await call(make_server(big_fake), {"sql": sql})
    assert counts(result) == Counter(c["created_at"][:7] for c in big_fake.customers)
    assert len(counts(result)) >= 3


async def test_plans_in_metadata_match_the_data(big_fake: FakePolar) -> None:
    sql = (
        "SELECT json_extract(metadata, '$.plan') AS plan, COUNT(*) FROM customers "
        "WHERE plan IS NOT NULL GROUP BY plan"
    )
    result = await call(make_server(big_fake), {"sql": sql})
    expected = Counter(c["metadata"]["plan"] for c in big_fake.customers if "plan" in c["metadata"])
    assert counts(result) == expected and len(expected) == 4


async def test_email_domains_match_the_data(big_fake: FakePolar) -> None:
    big_fake.customers[0]["email"] = "Someone@GMail.Com"
    sql = "SELECT email_domain, COUNT(*) FROM customers WHERE email_domain IS NOT NULL GROUP BY 1"
    result = await call(make_server(big_fake), {"sql": sql})
    expected = Counter(c["email"].split("@")[1].lower() for c in big_fake.customers if c["email"])
    assert counts(result) == expected and expected["gmail.com"] == 1


async def test_a_date_range_in_one_country_matches_the_data(big_fake: FakePolar) -> None:
    start, end = "2024-02-01", "2024-03-15"
    sql = (
        f"SELECT id, name FROM customers WHERE created_at >= '{start}' AND created_at < '{end}' "
        "AND country = 'DE' ORDER BY created_at"
    )
    result = await call(make_server(big_fake), {"sql": sql})
    expected = [
        c["id"]
        for c in sorted(big_fake.customers, key=lambda c: c["created_at"])
        if start <= c["created_at"] < end and country_of(c) == "DE"
    ]
    header, rows = table_of(result)
    assert header == ["id", "name"] and [row[0] for row in rows] == expected and expected
    assert [row[0] for row in result.structured_content["rows"]] == expected


async def test_structured_content_carries_the_same_answer(big_fake: FakePolar) -> None:
    result = await call(
        make_server(big_fake),
        {"sql": "SELECT country, COUNT(*) AS n, MAX(created_at) FROM customers GROUP BY 1 ORDER BY 2 DESC"},
    )
    data = result.structured_content
    assert data["columns"] == ["country", "n", "MAX(created_at)"]
    assert data["row_count"] == len(data["rows"]) and data["truncated"] is False
    assert all(isinstance(row[1], int) for row in data["rows"])
    assert data["snapshot"]["customers"] == len(big_fake.customers)
    assert data["snapshot"]["taken_at"].endswith("Z")
    assert "notice" not in data
    _, rows = table_of(result)
    assert [[r[0], int(r[1])] for r in rows] == [[r[0] or "NULL", r[1]] for r in data["rows"]]


# --- the text ---------------------------------------------------------------------------------------


async def test_text_starts_with_the_snapshot_line_and_a_header(server: PolarMCPServer) -> None:
    result = await call(server, {"sql": "SELECT id, email FROM customers LIMIT 2"})
    lines = text_of(result).splitlines()
    assert lines[0].startswith("Snapshot of 123 customers taken just now (")
    assert lines[0].endswith(" UTC).")
    assert lines[1] == "id\temail" and len(lines) == 4


async def test_a_long_answer_says_how_many_more_rows_and_how_to_get_them(server: PolarMCPServer) -> None:
    numbers = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 450) SELECT n FROM r"
    result = await call(server, {"sql": numbers})
    lines = text_of(result).splitlines()
    assert lines[2:4] == ["1", "2"] and lines[-2] == "200"
    assert lines[-1] == (
        "Showing the first 200 of 450 rows. Aggregate (GROUP BY, COUNT) to see everything at once, "
        "or add LIMIT 200 OFFSET 200 to the statement for the next rows."
    )
    data = result.structured_content
    assert data["row_count"] == 450 and data["truncated"] is True and len(data["rows"]) == 200
    following = await call(server, {"sql": numbers + " LIMIT 200 OFFSET 200"})
    assert table_of(following)[1][0] == ["201"] and following.structured_content["truncated"] is False


async def test_rows_past_the_time_limit_are_counted_as_a_lower_bound(fake: FakePolar) -> None:
    endless = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r"
    result = await call(fast_server(fake), {"sql": endless})
    data = result.structured_content
    assert len(data["rows"]) == 200 and data["truncated"] is True and data["row_count"] > 200
    assert (
        text_of(result)
        .splitlines()[-1]
        .startswith(f"Showing the first 200 of more than {data['row_count']:,} rows.")
    )


async def test_an_empty_answer_says_so(server: PolarMCPServer) -> None:
    result = await call(server, {"sql": "SELECT id FROM customers WHERE country = 'ZZ'"})
    assert text_of(result).splitlines()[1:] == ["id", "(no rows)"]
    assert result.structured_content["row_count"] == 0


async def test_long_cells_are_cut_with_a_marker(server: PolarMCPServer) -> None:
    result = await call(server, {"sql": "SELECT hex(zeroblob(300)) AS long, 'short' AS short"})
    _, rows = table_of(result)
    assert rows[0][0] == "0" * 200 + "…[cut 400 chars]" and rows[0][1] == "short"
    assert result.structured_content["rows"][0][0] == rows[0][0]


async def test_blobs_and_nulls_are_shown_plainly(server: PolarMCPServer) -> None:
    result = await call(server, {"sql": "SELECT zeroblob(3), NULL, 1.5"})
    assert table_of(result)[1] == [["<3-byte blob>", "NULL", "1.5"]]
    assert result.structured_content["rows"] == [["<3-byte blob>", None, 1.5]]


async def test_customer_text_is_cleaned_before_the_model_reads_it(fake: FakePolar) -> None:
    fake.customers[0].update(name="Eve\x1b[31m\u202eevil\u200b\tname\nx", metadata={"k\x07": "v\u2066"})
    sql = f"SELECT name, metadata FROM customers WHERE id = '{fake.customers[0]['id']}'"
    result = await call(make_server(fake), {"sql": sql})
    _, rows = table_of(result)
    assert rows == [["Eve[31mevil name x", '{"k":"v"}']]
    assert result.structured_content["rows"] == [["Eve[31mevil name x", '{"k":"v"}']]


async def test_demo_mode_marks_text_and_structure(fake: FakePolar) -> None:
    result = await call(make_server(fake, demo=True), {"sql": "SELECT COUNT(*) FROM customers"})
    assert text_of(result).startswith("DEMO DATA")
    assert result.structured_content["notice"].startswith("DEMO DATA")


async def test_malformed_rows_are_counted_and_reported_not_fatal(fake: FakePolar) -> None:
    header = ",".join(EXPORT_HEADER)
    good = "c1,,2024-01-01T00:00:00+00:00,a@b.c,A,,,,,,,DE,"
    body = "\r\n".join([header, good, "c2,broken", good.replace("c1", "c3"), ""])
    fake.fail_next(Fault(status=200, body=body, headers={"content-type": "text/csv"}))
    result = await call(make_server(fake), {"sql": "SELECT id FROM customers ORDER BY id"})
    lines = text_of(result).splitlines()
    assert lines[0].startswith("Snapshot of 2 customers")
    assert lines[1] == "1 malformed row of the export (row 2) left out."
    assert lines[2:] == ["id", "c1", "c3"]


@pytest.mark.parametrize(
    ("age", "words"),
    [
        (0.4, "just now"),
        (1, "1 second ago"),
        (59, "59 seconds ago"),
        (60, "1 minute ago"),
        (3 * 60 + 59, "3 minutes ago"),
        (7200, "2 hours ago"),
        (86_400 * 3, "3 days ago"),
        (-5, "just now"),
    ],
)
async def test_snapshot_line_says_how_old_it_is(fake: FakePolar, age: float, words: str) -> None:
    store = SnapshotStore(Settings(access_token=DEFAULT_TOKEN), client_for(fake), clock=lambda: 1_700_000_000)
    snapshot = await store.get()
    assert snapshot_line(snapshot, snapshot.taken_at + age) == (
        f"Snapshot of 123 customers taken {words} (22:13 UTC)."
    )


# --- hostile and broken statements ------------------------------------------------------------------

HOSTILE = [
    ("delete", "DELETE FROM customers", "Only a read-only SELECT"),
    ("update", "UPDATE customers SET name = 'x'", "Only a read-only SELECT"),
    ("insert", "INSERT INTO customers (id, created_at) VALUES ('x', 'y')", "Only a read-only SELECT"),
    ("drop", "DROP TABLE customers", "Only a read-only SELECT"),
    ("create", "CREATE TABLE t (x)", "Only a read-only SELECT"),
    ("temp table", "CREATE TEMP TABLE t AS SELECT * FROM customers", "Only a read-only SELECT"),
    ("attach", "ATTACH DATABASE '/tmp/polar-mcp-attack.db' AS x", "Only a read-only SELECT"),
    ("pragma", "PRAGMA table_info(customers)", "Only a read-only SELECT"),
    ("vacuum", "VACUUM", "Only a read-only SELECT"),
    ("transaction", "BEGIN", "Only a read-only SELECT"),
    ("comment hides a delete", "/* read */ DELETE FROM customers", "Only a read-only SELECT"),
    ("update behind WITH", "WITH d AS (SELECT 1) UPDATE customers SET name = 'x'", "Refused: UPDATE"),
    ("delete behind WITH", "WITH d AS (SELECT 1) DELETE FROM customers", "Refused: DELETE"),
    ("pragma function", "SELECT * FROM pragma_table_info('customers')", "Refused: that table-valued"),
    ("dbstat", "SELECT * FROM dbstat", "Refused: that table-valued"),
    ("schema table", "SELECT sql FROM sqlite_master", "Refused: reading sqlite_master"),
    ("temp schema", "SELECT * FROM sqlite_temp_master", "Refused: reading sqlite_temp_master"),
    ("load_extension", "SELECT load_extension('/tmp/evil.so')", "Refused: load_extension"),
    (
        "endless recursive CTE",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r",
        "stopped after 2 seconds",
    ),
    (
        "table joined with itself three times",
        "SELECT COUNT(*) FROM customers a, customers b, customers c, customers d",
        "stopped after 2 seconds",
    ),
    ("two statements", "SELECT 1; SELECT 2", "Only one statement"),
    ("select then delete", "SELECT 1; DELETE FROM customers", "Only one statement"),
    ("empty", "", "holds no statement"),
    ("only a comment", "  -- nothing here", "holds no statement"),
    ("1 MB of SQL", "SELECT " + "1 + " * 250_000 + "1", "at most 10,000 characters"),
    ("huge value", "SELECT randomblob(2000000000)", "too big"),
    ("huge replace", "SELECT replace(hex(zeroblob(400000)), '0', '00000')", "too big"),
    ("typo in column", "SELECT contry FROM customers", "no such column: contry"),
    ("unknown table", "SELECT * FROM customer", "no such table: customer"),
    ("syntax error", "SELECT FROM WHERE", "syntax error"),
    ("incomplete", "SELECT id FROM customers WHERE", "incomplete input"),
]


@pytest.mark.parametrize(("name", "sql", "words"), HOSTILE, ids=[row[0] for row in HOSTILE])
async def test_hostile_or_broken_sql_is_answered_clearly_and_the_server_keeps_serving(
    fake: FakePolar, name: str, sql: str, words: str
) -> None:
    with anyio.fail_after(15):
        async with Client(fast_server(fake)) as client:
            result = await client.call_tool("query_customers", {"sql": sql})
            after = await client.call_tool("query_customers", {"sql": "SELECT COUNT(*) FROM customers"})
    assert result.is_error
    message = text_of(result)
    assert words in message
    assert len(message) < 600 and message.count(". ") <= 3
    assert not after.is_error and table_of(after)[1] == [["123"]]


async def test_sqlite_errors_list_the_columns(server: PolarMCPServer) -> None:
    result = await call(server, {"sql": "SELECT contry FROM customers"})
    assert text_of(result) == (
        "SQLite rejected the statement: no such column: contry. Table customers has columns id, external_id, "
        "created_at, email, email_domain, name, tax_id, address_line1, address_line2, city, state, "
        "postal_code, country, metadata."
    )


async def test_nothing_hostile_changed_the_snapshot(server: PolarMCPServer) -> None:
    async with Client(server) as client:
        for _, sql, _ in HOSTILE[:17]:
            await client.call_tool("query_customers", {"sql": sql})
        result = await client.call_tool(
            "query_customers", {"sql": "SELECT COUNT(*), COUNT(DISTINCT name) FROM customers"}
        )
    assert table_of(result)[1][0][0] == "123" and not await anyio.Path("/tmp/polar-mcp-attack.db").exists()


async def test_json_table_functions_work(big_fake: FakePolar) -> None:
    sql = "SELECT key, COUNT(*) FROM customers, json_each(customers.metadata) GROUP BY key"
    result = await call(make_server(big_fake), {"sql": sql})
    expected = Counter(key for c in big_fake.customers for key in c["metadata"])
    assert counts(result) == expected


async def test_a_slow_statement_does_not_hold_up_other_calls(fake: FakePolar) -> None:
    clock = HeldClock()
    server = make_server(fake, query_clock=clock)
    order: list[str] = []
    endless = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r"
    with anyio.fail_after(15):
        async with Client(server) as client:
            await client.call_tool("query_customers", {"sql": "SELECT 1"})  # the snapshot is ready

            async def slow() -> None:
                await client.call_tool("query_customers", {"sql": endless})
                order.append("slow query")

            clock.holding = True
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(slow)
                    # The statement has started and cannot end before the clock is released.
                    assert await anyio.to_thread.run_sync(clock.read.wait, 10)
                    result = await client.call_tool("list_customers", {"limit": 1})
                    order.append("list_customers")
                    clock.released.set()
            finally:
                clock.released.set()
    assert not result.is_error and order == ["list_customers", "slow query"]


async def test_the_time_limit_given_to_the_store_is_the_one_a_statement_gets(fake: FakePolar) -> None:
    server = make_server(fake, time_limit=0.5, query_clock=StatementClock(step=0.1))
    endless = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r"
    result = await call(server, {"sql": endless})
    assert result.is_error and text_of(result).startswith("The statement was stopped after 0.5 seconds")


def test_a_server_gives_statements_the_documented_time_limit(fake: FakePolar) -> None:
    store = make_server(fake).context.snapshots
    assert store.time_limit == TIME_LIMIT == 2.0 and store.query_clock is time.monotonic


# --- snapshots: shared, kept for the TTL, refreshed on demand ----------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def exports(fake: FakePolar) -> int:
    return sum(1 for r in fake.requests if r.url.path == "/v1/customers/export")


async def test_snapshot_is_kept_for_the_ttl_then_taken_again(fake: FakePolar) -> None:
    clock = Clock()
    store = SnapshotStore(
        Settings(access_token=DEFAULT_TOKEN, snapshot_ttl=300), client_for(fake), clock=clock
    )
    first = await store.get()
    clock.now += 299
    assert await store.get() is first and exports(fake) == 1
    clock.now += 1
    second = await store.get()
    assert second is not first and exports(fake) == 2 and second.taken_at == clock.now


async def test_refresh_takes_a_new_snapshot(fake: FakePolar) -> None:
    server = make_server(fake)
    async with Client(server) as client:
        await client.call_tool("query_customers", {"sql": "SELECT 1"})
        await client.call_tool("query_customers", {"sql": "SELECT 1"})
        assert exports(fake) == 1
        fake.customers.pop()
        result = await client.call_tool(
            "query_customers", {"sql": "SELECT COUNT(*) FROM customers", "refresh": True}
        )
    assert exports(fake) == 2 and table_of(result)[1] == [["122"]]


def gated(fake: FakePolar, gate: anyio.Event) -> httpx.MockTransport:
    """`fake` behind a gate: each request waits until `gate` is set."""

    async def handler(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return fake(request)

    return httpx.MockTransport(handler)


async def test_ten_concurrent_first_calls_make_one_export_request(fake: FakePolar) -> None:
    gate = anyio.Event()
    settings = Settings(access_token=DEFAULT_TOKEN)
    server = build_server(settings, client=PolarClient(settings, transport=gated(fake, gate)))
    results: list[Any] = []
    with anyio.fail_after(20):
        async with Client(server) as client:

            async def ask() -> None:
                results.append(
                    await client.call_tool("query_customers", {"sql": "SELECT COUNT(*) FROM customers"})
                )

            async with anyio.create_task_group() as group:
                for _ in range(10):
                    group.start_soon(ask)
                await anyio.wait_all_tasks_blocked()  # one at the gate, nine waiting for its snapshot
                gate.set()
    assert exports(fake) == 1
    assert [table_of(result)[1] for result in results] == [[["123"]]] * 10


async def test_concurrent_callers_share_a_failure_without_asking_again(fake: FakePolar) -> None:
    gate = anyio.Event()
    fake.fail_next(Fault(status=401, body={"error": "invalid_token"}))
    store = SnapshotStore(Settings(access_token=DEFAULT_TOKEN), client_for(gated(fake, gate)))
    errors: list[BaseException] = []

    async def ask() -> None:
        try:
            await store.get()
        except AuthError as exc:
            errors.append(exc)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(ask)
            await anyio.wait_all_tasks_blocked()  # one at the gate, four waiting for its outcome
            gate.set()
    assert len(errors) == 5 and len(fake.requests) == 1
    await store.get()  # the next call tries again
    assert len(fake.requests) == 2


async def test_a_cancelled_taker_leaves_the_next_caller_to_take_it(fake: FakePolar) -> None:
    gate = anyio.Event()
    store = SnapshotStore(Settings(access_token=DEFAULT_TOKEN), client_for(gated(fake, gate)))
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(store.get)
            await anyio.wait_all_tasks_blocked()  # the taker waits at the gate
            waiter_done = anyio.Event()

            async def waiter() -> None:
                await store.get()
                waiter_done.set()

            group.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()  # the waiter waits for the taker's snapshot
            group.cancel_scope.cancel()
        gate.set()
        assert not waiter_done.is_set()
        snapshot = await store.get()
    assert snapshot.customers == 123


async def test_each_organization_choice_has_its_own_snapshot(fake: FakePolar) -> None:
    server = make_server(fake)
    async with Client(server) as client:
        mine = await client.call_tool("query_customers", {"sql": "SELECT COUNT(*) FROM customers"})
        other = await client.call_tool(
            "query_customers", {"sql": "SELECT COUNT(*) FROM customers", "organization_id": OTHER_ORG}
        )
        again = await client.call_tool(
            "query_customers", {"sql": "SELECT COUNT(*) FROM customers", "organization_id": OTHER_ORG}
        )
    assert table_of(mine)[1] == [["123"]] and table_of(other)[1] == table_of(again)[1] == [["0"]]
    assert fake.queries == ["", f"organization_id={OTHER_ORG}"]


def test_snapshot_keys_never_hold_the_token() -> None:
    a = snapshot_key(Settings(access_token="polar_oat_secret_one"), [ORG.upper()])
    b = snapshot_key(Settings(access_token="polar_oat_secret_two"), [ORG])
    assert "polar_oat_secret_one" not in repr(a) and a[2] == b[2] == (ORG,) and a != b
    c = snapshot_key(
        Settings(access_token="polar_oat_secret_one", server_url="https://sandbox-api.polar.sh"), [ORG]
    )
    assert c != a


# --- failures reach the model as one actionable message ---------------------------------------------

FAILURES = [
    ("401", [Fault(status=401, body={"error": "invalid_token"})], "POLAR_ACCESS_TOKEN"),
    ("403", [Fault(status=403, body={"error": "insufficient_scope"})], "customers:read scope"),
    ("429", [Fault(status=429, body=None, headers={"Retry-After": "60"})], "Retry in 60 seconds"),
    ("5xx", [Fault(status=503, body="<html>unavailable</html>")] * 3, "failed with 503"),
    ("timeout", [Fault(error=httpx.ConnectTimeout)] * 3, "did not answer within"),
    ("not csv", [Fault(status=200, body={"items": []})], "not the CSV export"),
]


@pytest.mark.parametrize(("name", "faults", "words"), FAILURES, ids=[row[0] for row in FAILURES])
async def test_export_failures_are_actionable_tool_errors(
    fake: FakePolar, name: str, faults: list[Fault], words: str
) -> None:
    fake.fail_next(*faults)
    server = make_server(fake)
    async with Client(server) as client:
        result = await client.call_tool("query_customers", {"sql": "SELECT COUNT(*) FROM customers"})
        retry = await client.call_tool("query_customers", {"sql": "SELECT COUNT(*) FROM customers"})
    assert result.is_error and words in text_of(result) and DEFAULT_TOKEN not in text_of(result)
    assert table_of(retry)[1] == [["123"]]


async def test_too_many_customers_name_the_variable(fake: FakePolar) -> None:
    result = await call(make_server(fake, snapshot_max=100), {"sql": "SELECT 1"})
    assert (
        result.is_error and "POLAR_MCP_SNAPSHOT_MAX" in text_of(result) and "100 customers" in text_of(result)
    )


async def test_missing_token_is_explained_before_any_request(fake: FakePolar) -> None:
    result = await call(make_server(fake, token=None), {"sql": "SELECT 1"})
    assert result.is_error and "POLAR_ACCESS_TOKEN" in text_of(result) and fake.requests == []


async def test_unknown_arguments_point_to_sql(server: PolarMCPServer) -> None:
    result = await call(server, {"sql": "SELECT 1", "limit": 5})
    assert result.is_error and "write LIMIT in the SQL statement" in text_of(result)
