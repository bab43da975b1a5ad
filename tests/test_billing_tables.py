"""`query_customers` over subscriptions, orders and products: answers checked against ground truth computed
here from the fake Polar's own data, the linking by email and name, scopes per table, and lazy loading."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from mcp import Client

from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar, Grant
from polar_mcp.demo.ledger import api_orders, api_subscriptions
from polar_mcp.demo.organization import DEMO_ORGANIZATION_ID, sample_customers
from polar_mcp.polar.billing_export import OrderParser, SubscriptionParser
from polar_mcp.server import PolarMCPServer
from tests.conftest import make_server
from tests.helpers import text_of

pytestmark = pytest.mark.anyio

AS_OF = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
LIVE = ("active", "trialing", "past_due")


@pytest.fixture
def billing_fake() -> FakePolar:
    return FakePolar(sample_customers(400, seed=11), as_of=AS_OF)


async def ask(server: PolarMCPServer, sql: str, **arguments: Any) -> Any:
    with anyio.fail_after(30):
        async with Client(server) as client:
            return await client.call_tool("query_customers", {"sql": sql, **arguments})


def rows_of(result: Any) -> list[list[Any]]:
    assert not result.is_error, text_of(result)
    rows: list[list[Any]] = result.structured_content["rows"]
    return rows


def exports(fake: FakePolar) -> list[str]:
    return [
        r.url.path for r in fake.requests if r.url.path.endswith("/export") or r.url.path == "/v1/products/"
    ]


def day(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


async def test_subscribers_per_product(billing_fake: FakePolar) -> None:
    expected = Counter(
        s["product"]["name"] for s in api_subscriptions(billing_fake.billing) if s["status"] in LIVE
    )
    sql = "SELECT product, COUNT(*) FROM subscriptions WHERE status IN ('active', 'trialing', 'past_due') "
    sql += "GROUP BY 1"
    result = await ask(make_server(billing_fake), sql)
    assert {product: count for product, count in rows_of(result)} == dict(expected)
    assert text_of(result).splitlines()[0].startswith("Snapshot of ")


async def test_renewals_in_the_next_seven_days_with_their_sum(billing_fake: FakePolar) -> None:
    horizon = AS_OF + timedelta(days=7)
    renewing = [
        s
        for s in api_subscriptions(billing_fake.billing)
        if s["status"] == "active"
        and not s["cancel_at_period_end"]
        and (end := day(s["current_period_end"])) is not None
        and AS_OF <= end < horizon
    ]
    assert renewing, "the sample must have renewals in the coming week"
    expected: dict[str, list[int]] = {}
    for s in renewing:
        total = expected.setdefault(s["currency"], [0, 0])
        total[0] += 1
        total[1] += s["amount"]
    window = (AS_OF.strftime("%Y-%m-%dT%H:%M:%SZ"), horizon.strftime("%Y-%m-%dT%H:%M:%SZ"))
    sql = (
        "SELECT currency, COUNT(*), SUM(amount) FROM subscriptions WHERE status = 'active' "
        f"AND NOT cancel_at_period_end AND current_period_end >= '{window[0]}' "
        f"AND current_period_end < '{window[1]}' GROUP BY 1"
    )
    result = await ask(make_server(billing_fake), sql)
    assert {currency: [n, total] for currency, n, total in rows_of(result)} == expected


async def test_trials_ending_this_week(billing_fake: FakePolar) -> None:
    horizon = AS_OF + timedelta(days=7)
    ending = sorted(
        s["customer"]["email"] or ""
        for s in api_subscriptions(billing_fake.billing)
        if s["status"] == "trialing" and (end := day(s["trial_end"])) is not None and AS_OF <= end < horizon
    )
    assert ending
    sql = (
        "SELECT COALESCE(email, '') FROM subscriptions WHERE status = 'trialing' AND trial_end >= "
        f"'{AS_OF:%Y-%m-%dT%H:%M:%SZ}' AND trial_end < '{horizon:%Y-%m-%dT%H:%M:%SZ}' ORDER BY 1"
    )
    assert [row[0] for row in rows_of(await ask(make_server(billing_fake), sql))] == ending


async def test_cancellations_in_the_last_thirty_days_by_reason(billing_fake: FakePolar) -> None:
    since = AS_OF - timedelta(days=30)
    expected = Counter(
        s["customer_cancellation_reason"]
        for s in api_subscriptions(billing_fake.billing)
        if (canceled := day(s["canceled_at"])) is not None and since <= canceled <= AS_OF
    )
    assert sum(expected.values()) > 0
    sql = (
        "SELECT cancellation_reason, COUNT(*) FROM subscriptions "
        f"WHERE canceled_at >= '{since:%Y-%m-%dT%H:%M:%SZ}' AND canceled_at <= '{AS_OF:%Y-%m-%dT%H:%M:%SZ}' "
        "GROUP BY 1"
    )
    assert {reason: n for reason, n in rows_of(await ask(make_server(billing_fake), sql))} == dict(expected)


async def test_top_customers_by_paid_net_amount_and_one_customers_orders(billing_fake: FakePolar) -> None:
    orders = api_orders(billing_fake.billing)
    paid: Counter[str] = Counter()
    for order in orders:
        if order["customer"]["email"] and order["currency"] == "usd":
            paid[order["customer_id"]] += order["net_amount"] - order["refunded_amount"]
    expected = [[customer, amount] for customer, amount in paid.most_common(5)]
    sql = (
        "SELECT customer_id, SUM(net_amount - refunded_amount) AS paid FROM orders WHERE currency = 'usd' "
        "AND customer_id IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5"
    )
    got = rows_of(await ask(make_server(billing_fake), sql))
    assert [amount for _, amount in got] == [amount for _, amount in expected]
    first = got[0][0]
    own = sorted(o["created_at"][:19] for o in orders if o["customer_id"] == first)
    sql = f"SELECT created_at FROM orders WHERE customer_id = '{first}' ORDER BY 1"
    assert [row[0][:19] for row in rows_of(await ask(make_server(billing_fake), sql))] == own


async def test_new_versus_returning_revenue_by_month(billing_fake: FakePolar) -> None:
    expected: Counter[tuple[str, str]] = Counter()
    for order in api_orders(billing_fake.billing):
        if order["currency"] == "usd" and order["billing_reason"] in (
            "subscription_create",
            "subscription_cycle",
        ):
            kind = "new" if order["billing_reason"] == "subscription_create" else "returning"
            expected[(order["created_at"][:7], kind)] += order["net_amount"]
    sql = (
        "SELECT strftime('%Y-%m', created_at), CASE billing_reason WHEN 'subscription_create' THEN 'new' "
        "ELSE 'returning' END, SUM(net_amount) FROM orders WHERE currency = 'usd' AND billing_reason IN "
        "('subscription_create', 'subscription_cycle') GROUP BY 1, 2"
    )
    got = rows_of(await ask(make_server(billing_fake), sql, refresh=False))
    assert {(month, kind): total for month, kind, total in got} == dict(expected)


async def test_rows_link_by_email_and_name_and_say_how_many_do_not(billing_fake: FakePolar) -> None:
    subscriptions = api_subscriptions(billing_fake.billing)
    emails = Counter((c.get("email") or "").lower() for c in billing_fake.customers if c.get("email"))
    names = Counter(p["name"] for p in billing_fake.products)
    without_customer = sum(
        1 for s in subscriptions if emails.get((s["customer"]["email"] or "").lower()) != 1
    )
    without_product = sum(1 for s in subscriptions if names.get(s["product"]["name"]) != 1)
    assert without_customer and without_product, (
        "the sample has team customers without email and a shared name"
    )
    result = await ask(make_server(billing_fake), "SELECT COUNT(*) FROM subscriptions")
    first = text_of(result).splitlines()[0]
    assert (
        f"{without_customer:,} without customer_id" in first
        and f"{without_product:,} without product_id" in first
    )
    tables = result.structured_content["tables"]["subscriptions"]
    assert (
        tables["without_customer_id"] == without_customer and tables["without_product_id"] == without_product
    )
    linked = rows_of(
        await ask(
            make_server(billing_fake),
            "SELECT COUNT(*) FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
            "WHERE lower(c.email) = lower(s.email)",
        )
    )
    assert linked == [[len(subscriptions) - without_customer]]


async def test_a_token_without_a_tables_scope_is_told_which_scope_and_still_reads_the_rest() -> None:
    customers = sample_customers(50, seed=3)
    grant = Grant(DEMO_ORGANIZATION_ID, frozenset({"customers:read", "products:read"}))
    fake = FakePolar(customers, tokens={DEFAULT_TOKEN: grant}, as_of=AS_OF)
    server = make_server(fake)
    refused = await ask(server, "SELECT COUNT(*) FROM subscriptions")
    assert refused.is_error
    message = text_of(refused)
    assert (
        "subscriptions:read" in message and "subscriptions table" in message and "Polar dashboard" in message
    )
    assert rows_of(await ask(server, "SELECT COUNT(*) FROM customers")) == [[50]]


async def test_only_the_tables_a_statement_reads_are_loaded(billing_fake: FakePolar) -> None:
    server = make_server(billing_fake)
    rows_of(await ask(server, "SELECT COUNT(*) FROM customers"))
    assert exports(billing_fake) == ["/v1/customers/export"]
    rows_of(await ask(server, "SELECT COUNT(*) FROM subscriptions"))
    assert exports(billing_fake)[1:] == ["/v1/products/", "/v1/subscriptions/export"]
    sql = (
        "SELECT COUNT(*) FROM customers c JOIN subscriptions s ON s.customer_id = c.id "
        "JOIN orders o ON o.customer_id = c.id JOIN products p ON p.id = s.product_id"
    )
    rows_of(await ask(server, sql))
    assert exports(billing_fake)[3:] == ["/v1/orders/export"]
    assert len(exports(billing_fake)) == 4  # four requests for every table, cold


async def test_every_loaded_table_carries_statistics_for_the_planner(billing_fake: FakePolar) -> None:
    server = make_server(billing_fake)
    snapshot = await server.context.snapshots.get(tables=("customers", "subscriptions", "orders"))
    with snapshot.database.writing() as conn:
        analyzed = {row[0] for row in conn.execute("SELECT tbl FROM sqlite_stat1")}
    assert analyzed == {"customers", "subscriptions", "orders", "products"}
    assert exports(billing_fake).count("/v1/orders/export") == 1


async def test_loading_a_table_reports_progress_to_a_client_that_asked(billing_fake: FakePolar) -> None:
    seen: list[str] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append(message or "")

    callback: Any = progress

    with anyio.fail_after(30):
        async with Client(make_server(billing_fake)) as client:
            result = await client.call_tool(
                "query_customers", {"sql": "SELECT COUNT(*) FROM orders"}, progress_callback=callback
            )
    assert not result.is_error
    assert any(message.startswith("Loading orders from Polar:") for message in seen)


HOSTILE_SUBSCRIPTIONS = (
    "Email,Started At,Product,Amount,Currency,Status,Billing Interval,Surprise\r\n"
    'a@example.com,2026-01-01T00:00:00+00:00,"Pro ""Plus"", yearly",20.0,usd,active,month,x\r\n'
    '"broken,2026-01-01T00:00:00+00:00,Pro,20.0,usd,active,month,x\r\n'
    "b@example.com,2026-01-01T00:00:00+00:00," + "x" * 100_000 + ",20.0,usd,active,month,x\r\n"
    "=cmd|' /C calc'!A0,2026-01-02T00:00:00+00:00,Pro,30.0,jpy,past_due,3 months,x\r\n"
)


def test_hostile_subscription_rows_are_read_leniently() -> None:
    parser = SubscriptionParser()
    rows = parser.feed(HOSTILE_SUBSCRIPTIONS.encode()) + parser.finish()
    assert [row.product for row in rows] == ['Pro "Plus", yearly', "Pro"]
    assert rows[1].email == "=cmd|' /C calc'!A0" and rows[1].amount == 3000
    assert (rows[1].recurring_interval, rows[1].interval_count) == ("month", 3)
    assert parser.stats.malformed >= 1 and rows[0].started_at == "2026-01-01T00:00:00Z"


def test_hostile_order_rows_are_read_leniently() -> None:
    body = (
        "Email,Created At,Product,Net Amount,Currency,Status,Total,Refunded Amount,Unknown\r\n"
        "a@example.com,2026-01-01T00:00:00+00:00,Pro,4.99,usd,paid,5.99,0.0,?\r\n"
        "a@example.com,never,Pro,4.99,usd,paid,5.99,0.0,?\r\n"
        "b@example.com,2026-01-02T00:00:00+00:00,Pro,nan,usd,refunded,1e400,19.99,?\r\n"
    )
    parser = OrderParser()
    rows = parser.feed(io.BytesIO(body.encode()).read()) + parser.finish()
    assert [(r.net_amount, r.total_amount, r.refunded_amount) for r in rows] == [
        (499, 599, 0),
        (None, None, 1999),
    ]
    assert parser.stats.malformed == 1
