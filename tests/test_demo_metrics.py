"""The fake's `GET /v1/metrics/` answers as Polar does, and its figures agree with plain SQL over the
exports' rows: the metric definitions hold, not merely the shapes."""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar, Grant
from polar_mcp.demo.fake_billing_export import ORDER_COLUMNS, SUBSCRIPTION_COLUMNS
from polar_mcp.demo.ledger import SampleBilling, demo_billing
from polar_mcp.demo.metrics import METRIC_SLUGS, compute_metrics
from polar_mcp.demo.money import EXCHANGE_RATES
from polar_mcp.demo.orders import PAID_STATUSES
from polar_mcp.demo.organization import demo_customers
from tests.conftest import DATA

OPENAPI = json.loads((DATA / "billing-read.openapi.json").read_text())
SCHEMAS = OPENAPI["components"]["schemas"]
AS_OF = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
ANCHOR = datetime(2026, 12, 2, tzinfo=UTC)
TOMORROW = ANCHOR + timedelta(days=1)
DEMO = demo_customers()
ORG = DEMO[0]["organization_id"]
BILLING = demo_billing(AS_OF)
METRICS = "/v1/metrics/"


def _validator(name: str) -> jsonschema.Draft202012Validator:
    resource = Resource.from_contents(OPENAPI, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("openapi.json", resource)
    return jsonschema.Draft202012Validator(
        {"$ref": f"openapi.json#/components/schemas/{name}"}, registry=registry
    )


RESPONSE = _validator("MetricsResponse")
LIMITS = _validator("MetricsLimits")
VALIDATION_ERROR = _validator("HTTPValidationError")


def usd_only() -> SampleBilling:
    """The demo organization with only its US-dollar subscriptions and orders: no exchange rates involved."""
    return SampleBilling(
        BILLING.anchor,
        BILLING.catalogue,
        DEMO,
        [s for s in BILLING.subscriptions if s.currency == "usd"],
        [o for o in BILLING.orders if o.currency == "usd"],
    )


def get(target: FakePolar, path: str, params: Any = None, token: str = DEFAULT_TOKEN) -> httpx.Response:
    with httpx.Client(transport=httpx.MockTransport(target), base_url="https://api.polar.sh") as client:
        return client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})


def metrics(
    target: FakePolar, start: str, end: str, interval: str, *slugs: str, **extra: Any
) -> dict[str, Any]:
    params: list[tuple[str, str]] = [("start_date", start), ("end_date", end), ("interval", interval)]
    params += [("metrics", slug) for slug in slugs]
    for name, value in extra.items():
        params += [(name, v) for v in (value if isinstance(value, list) else [value])]
    response = get(target, METRICS, params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    RESPONSE.validate(body)
    return body


def fake(billing: SampleBilling | None = None) -> FakePolar:
    return FakePolar(DEMO, billing=billing) if billing is not None else FakePolar(DEMO, as_of=AS_OF)


def database(target: FakePolar) -> sqlite3.Connection:
    """The two exports, every column, loaded into SQLite as the plain rows a person would query."""
    connection = sqlite3.connect(":memory:")
    for path, every in (
        ("/v1/subscriptions/export", SUBSCRIPTION_COLUMNS),
        ("/v1/orders/export", ORDER_COLUMNS),
    ):
        table = path.split("/")[2]
        response = get(target, path, [("columns", c) for c in every])
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0] == list(every.values())
        connection.execute(f"CREATE TABLE {table} ({', '.join(every)})")
        connection.executemany(
            f"INSERT INTO {table} VALUES ({', '.join('?' * len(every))})",
            [[None if cell == "" else cell for cell in row] for row in rows[1:]],
        )
    return connection


MONTHLY_CENTS = """
    CASE recurring_interval
        WHEN 'month' THEN ROUND(net_amount * 100)
        WHEN '3 months' THEN ROUND(net_amount * 100 / 3.0)
        WHEN 'year' THEN ROUND(net_amount * 100 / 12.0)
        WHEN 'week' THEN ROUND(net_amount * 100 * 52 / 12.0)
    END
"""


def test_every_slug_of_the_2026_10_version_is_served_in_the_schemas_order() -> None:
    assert list(METRIC_SLUGS) == list(SCHEMAS["Metrics"]["properties"])
    assert list(METRIC_SLUGS) == [p for p in SCHEMAS["MetricPeriod"]["properties"] if p != "timestamp"]
    assert list(METRIC_SLUGS) == list(SCHEMAS["MetricsTotals"]["properties"])


def test_without_metrics_every_metric_is_answered() -> None:
    body = metrics(fake(), "2026-01-01", "2026-12-31", "month")
    assert [p["timestamp"] for p in body["periods"]] == [f"2026-{m:02d}-01T00:00:00Z" for m in range(1, 13)]
    for period in body["periods"]:
        assert list(period) == ["timestamp", *METRIC_SLUGS]
    assert list(body["totals"]) == list(METRIC_SLUGS) and list(body["metrics"]) == list(METRIC_SLUGS)
    types = set(SCHEMAS["MetricType"]["enum"])
    for slug, info in body["metrics"].items():
        assert info["slug"] == slug and info["display_name"] and info["type"] in types
    assert body["metrics"]["monthly_recurring_revenue"] == {
        "slug": "monthly_recurring_revenue",
        "display_name": "Monthly Recurring Revenue",
        "type": "currency",
    }
    assert body["metrics"]["churn_rate"]["type"] == "percentage"
    assert body["metrics"]["costs"]["type"] == "currency_sub_cent"
    november = body["periods"][10]
    assert november["monthly_recurring_revenue"] > 0 and november["orders"] > 0 and november["revenue"] > 0
    assert november["costs"] == 0 and november["checkouts"] == 0 and november["seats_total"] == 0


@pytest.mark.parametrize("slug", METRIC_SLUGS)
def test_each_metric_alone(slug: str) -> None:
    body = metrics(fake(), "2026-10-01", "2026-11-30", "week", slug)
    assert all(list(period) == ["timestamp", slug] for period in body["periods"])
    assert list(body["totals"]) == [slug] and list(body["metrics"]) == [slug]


def test_the_limits_are_polars() -> None:
    response = get(fake(), "/v1/metrics/limits")
    body = response.json()
    LIMITS.validate(body)
    assert body == {
        "min_date": "2023-01-01",
        "intervals": {
            "hour": {"min_days": 0, "max_days": 7},
            "day": {"min_days": 0, "max_days": 366},
            "week": {"min_days": 14, "max_days": 371},
            "month": {"min_days": 60, "max_days": 1460},
            "year": {"min_days": 366, "max_days": 3650},
        },
    }
    assert get(fake(), "/v1/metrics/limits", {"interval": "day"}).status_code == 400


@pytest.mark.parametrize(
    ("interval", "start", "longest"),
    [
        ("hour", "2026-11-01", 7),
        ("day", "2025-12-01", 366),
        ("week", "2025-11-01", 371),
        ("month", "2023-01-01", 1460),
        ("year", "2016-01-01", 3650),
    ],
)
def test_a_range_too_long_for_its_interval_is_422(interval: str, start: str, longest: int) -> None:
    first = date.fromisoformat(start)
    ok = get(
        fake(),
        METRICS,
        {"start_date": start, "end_date": str(first + timedelta(days=longest)), "interval": interval},
    )
    assert ok.status_code == 200
    too_long = get(
        fake(),
        METRICS,
        {"start_date": start, "end_date": str(first + timedelta(days=longest + 1)), "interval": interval},
    )
    assert too_long.status_code == 422
    VALIDATION_ERROR.validate(too_long.json())
    assert too_long.json()["detail"][0]["loc"] == ["query"]
    assert too_long.json()["detail"][0]["msg"].startswith(
        "The interval is too small for the given date range."
    )


def test_an_end_before_the_start_is_422() -> None:
    response = get(fake(), METRICS, {"start_date": "2026-02-01", "end_date": "2026-01-01", "interval": "day"})
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "value_error"


def test_required_parameters_and_bad_values_are_polars_422() -> None:
    missing = get(fake(), METRICS)
    assert missing.status_code == 422
    VALIDATION_ERROR.validate(missing.json())
    assert [(p["loc"], p["type"]) for p in missing.json()["detail"]] == [
        (["query", "start_date"], "missing"),
        (["query", "end_date"], "missing"),
        (["query", "interval"], "missing"),
    ]
    bad = get(
        fake(),
        METRICS,
        [
            ("start_date", "2026-13-01"),
            ("end_date", "2026-12-31"),
            ("interval", "quarter"),
            ("timezone", "Europe/Atlantis"),
            ("product_id", "pro"),
            ("billing_type", "lifetime"),
        ],
    )
    assert bad.status_code == 422
    VALIDATION_ERROR.validate(bad.json())
    assert [(p["loc"], p["type"]) for p in bad.json()["detail"]] == [
        (["query", "start_date"], "date_from_datetime_parsing"),
        (["query", "timezone"], "TimeZoneName"),
        (["query", "interval"], "enum"),
        (["query", "product_id", 0], "uuid_parsing"),
        (["query", "billing_type", 0], "enum"),
    ]


def test_an_unknown_slug_is_422_naming_it() -> None:
    response = get(
        fake(),
        METRICS,
        [
            ("start_date", "2026-01-01"),
            ("end_date", "2026-01-31"),
            ("interval", "day"),
            ("metrics", "mrr"),
            ("metrics", "arr"),
        ],
    )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["query", "metrics"],
            "msg": "Invalid metric slugs: arr, mrr",
            "type": "value_error",
            "input": ["mrr", "arr"],
        }
    ]


def test_metrics_need_the_metrics_scope_and_refuse_undefined_parameters() -> None:
    target = FakePolar(DEMO, as_of=AS_OF, tokens={"polar_oat_no": Grant(ORG, frozenset({"orders:read"}))})
    params = {"start_date": "2026-01-01", "end_date": "2026-01-31", "interval": "day"}
    denied = get(target, METRICS, params, token="polar_oat_no")
    assert denied.status_code == 403 and denied.json()["error"] == "insufficient_scope"
    assert get(fake(), METRICS, {**params, "limit": "5"}).status_code == 400
    assert get(fake(), "/v1/metrics", params).status_code == 307


def test_time_zones_shift_the_buckets_and_the_timestamps() -> None:
    paris = metrics(
        fake(), "2026-01-01", "2026-03-31", "month", "monthly_recurring_revenue", timezone="Europe/Paris"
    )
    # Postgres-computed metrics come back in UTC; Tinybird-computed ones in the requested zone.
    assert [p["timestamp"] for p in paris["periods"]] == [
        "2025-12-31T23:00:00Z",
        "2026-01-31T23:00:00Z",
        "2026-02-28T23:00:00Z",
    ]
    orders = metrics(fake(), "2026-03-01", "2026-04-30", "month", "orders", timezone="Europe/Paris")
    assert [p["timestamp"] for p in orders["periods"]] == [
        "2026-03-01T00:00:00+01:00",
        "2026-04-01T00:00:00+02:00",
    ]
    days = metrics(fake(), "2026-03-28", "2026-03-30", "day", "orders", timezone="Europe/Paris")
    assert [p["timestamp"][11:] for p in days["periods"]] == [
        "00:00:00+01:00",
        "00:00:00+01:00",
        "00:00:00+02:00",
    ]
    weeks = metrics(fake(), "2026-11-04", "2026-11-20", "week", "orders")
    assert [p["timestamp"][:10] for p in weeks["periods"]] == ["2026-11-02", "2026-11-09", "2026-11-16"]
    hours = metrics(fake(), "2026-11-30", "2026-11-30", "hour", "orders", timezone="Asia/Kolkata")
    assert len(hours["periods"]) == 24 and hours["periods"][0]["timestamp"] == "2026-11-30T00:00:00+05:30"
    assert sum(p["orders"] for p in hours["periods"]) == sum(
        o.paid and o.created_at.astimezone(ZoneInfo("Asia/Kolkata")).date() == date(2026, 11, 30)
        for o in BILLING.orders
    )


def test_the_python_function_computes_what_the_endpoint_answers() -> None:
    body = metrics(
        fake(), "2026-06-01", "2026-11-30", "week", "monthly_recurring_revenue", "net_revenue", "churn_rate"
    )
    assert body == compute_metrics(
        BILLING,
        start_date=date(2026, 6, 1),
        end_date=date(2026, 11, 30),
        interval="week",
        metrics=["monthly_recurring_revenue", "net_revenue", "churn_rate"],
    )


def test_mrr_of_a_usd_only_organization_is_plain_sql_over_the_subscriptions_export() -> None:
    target = fake(usd_only())
    connection = database(target)
    (expected,) = connection.execute(
        f"""
        SELECT SUM({MONTHLY_CENTS}) FROM subscriptions
        WHERE status IN ('active', 'past_due')
          AND started_at < :tomorrow
          AND (trial_end IS NULL OR trial_end < :tomorrow)
          AND COALESCE(ended_at, ends_at, '9999') >= :tomorrow
        """,
        {"tomorrow": TOMORROW.isoformat()},
    ).fetchone()
    day = ANCHOR.date().isoformat()
    body = metrics(
        target,
        day,
        day,
        "day",
        "monthly_recurring_revenue",
        "annual_recurring_revenue",
        "active_subscriptions",
    )
    (today,) = body["periods"]
    assert expected > 0 and today["monthly_recurring_revenue"] == expected
    assert today["annual_recurring_revenue"] == 12 * expected
    (active,) = connection.execute(
        "SELECT COUNT(*) FROM subscriptions "
        "WHERE started_at < :t AND COALESCE(ended_at, ends_at, '9999') >= :t",
        {"t": TOMORROW.isoformat()},
    ).fetchone()
    assert today["active_subscriptions"] == active
    # Trials and past-due subscriptions: left out, and counted, as Polar's definition says.
    trials = connection.execute("SELECT COUNT(*) FROM subscriptions WHERE status = 'trialing'").fetchone()[0]
    past_due = connection.execute("SELECT COUNT(*) FROM subscriptions WHERE status = 'past_due'").fetchone()[
        0
    ]
    assert trials and past_due


def test_monthly_order_metrics_of_a_usd_only_organization_are_plain_sql_over_the_orders_export() -> None:
    target = fake(usd_only())
    connection = database(target)
    paid = ", ".join(f"'{status}'" for status in sorted(PAID_STATUSES))
    expected = {
        month: (count, revenue, one_time)
        for month, count, revenue, one_time in connection.execute(
            f"""
            SELECT substr(created_at, 1, 7), COUNT(*), SUM(ROUND(net_amount * 100)),
                   SUM(billing_reason = 'purchase')
            FROM orders WHERE status IN ({paid}) GROUP BY 1
            """
        )
    }
    body = metrics(
        target,
        "2025-12-01",
        "2026-11-30",
        "month",
        "orders",
        "revenue",
        "one_time_products",
        "average_order_value",
    )
    assert len(body["periods"]) == 12
    for period in body["periods"]:
        count, revenue, one_time = expected.get(period["timestamp"][:7], (0, 0, 0))
        assert (period["orders"], period["revenue"], period["one_time_products"]) == (
            count,
            revenue,
            one_time,
        )
        assert period["average_order_value"] == (math.ceil(revenue / count) if count else 0)
    assert body["totals"]["orders"] == sum(p["orders"] for p in body["periods"])
    assert body["totals"]["average_order_value"] == body["totals"]["revenue"] / body["totals"]["orders"]
    history = connection.execute(
        f"SELECT SUM(ROUND(net_amount * 100)) FROM orders WHERE status IN ({paid}) AND created_at < '2026-12'"
    ).fetchone()[0]
    cumulative = metrics(target, "2026-11-01", "2026-11-30", "month", "cumulative_revenue")
    assert cumulative["periods"][0]["cumulative_revenue"] == history  # history before the range included


def test_monthly_subscription_metrics_of_a_usd_only_organization_are_plain_sql() -> None:
    target = fake(usd_only())
    connection = database(target)

    def by_month(sql: str) -> dict[str, int]:
        return dict(connection.execute(sql).fetchall())

    canceled = by_month(
        "SELECT substr(canceled_at, 1, 7), COUNT(*) FROM subscriptions "
        "WHERE canceled_at IS NOT NULL GROUP BY 1"
    )
    too_expensive = by_month(
        "SELECT substr(canceled_at, 1, 7), COUNT(*) FROM subscriptions "
        "WHERE cancellation_reason = 'too_expensive' GROUP BY 1"
    )
    other = by_month(
        "SELECT substr(canceled_at, 1, 7), COUNT(*) FROM subscriptions WHERE canceled_at IS NOT NULL "
        "AND (cancellation_reason IS NULL OR cancellation_reason = 'other') GROUP BY 1"
    )
    churned = by_month(
        "SELECT substr(COALESCE(ended_at, ends_at), 1, 7), COUNT(*) FROM subscriptions "
        "WHERE COALESCE(ended_at, ends_at) IS NOT NULL GROUP BY 1"
    )
    new = by_month(
        "SELECT substr(started_at, 1, 7), COUNT(*) FROM subscriptions "
        "WHERE ends_at IS NULL OR substr(ends_at, 1, 7) > substr(started_at, 1, 7) GROUP BY 1"
    )
    slugs = (
        "canceled_subscriptions",
        "canceled_subscriptions_too_expensive",
        "canceled_subscriptions_other",
        "churned_subscriptions",
        "new_subscriptions",
        "churn_rate",
    )
    body = metrics(target, "2025-12-01", "2026-11-30", "month", *slugs)
    assert sum(p["canceled_subscriptions"] for p in body["periods"]) > 10
    for period in body["periods"]:
        month = period["timestamp"][:7]
        assert period["canceled_subscriptions"] == canceled.get(month, 0)
        assert period["canceled_subscriptions_too_expensive"] == too_expensive.get(month, 0)
        assert period["canceled_subscriptions_other"] == other.get(month, 0)
        assert period["churned_subscriptions"] == churned.get(month, 0)
        assert period["new_subscriptions"] == new.get(month, 0)
        start = datetime.fromisoformat(period["timestamp"])
        window = (start - timedelta(days=30)).isoformat()
        lost, base = connection.execute(
            """
            SELECT SUM(canceled_at >= :w AND canceled_at < :t),
                   SUM(started_at <= :w AND COALESCE(ended_at, ends_at, '9999') > :w)
            FROM subscriptions
            """,
            {"w": window, "t": start.isoformat()},
        ).fetchone()
        assert period["churn_rate"] == pytest.approx(lost / base if base else 0.0)


def test_mrr_converts_other_currencies_at_the_fixed_rates() -> None:
    def cents(amount: int, currency: str) -> Decimal:
        return (amount * EXCHANGE_RATES[currency]).quantize(Decimal(1), ROUND_HALF_UP)

    expected = Decimal(0)
    months = {("month", 1): 1, ("month", 3): 3, ("year", 1): 12}
    for record in BILLING.subscriptions:
        ends = record.ended_at or record.ends_at
        if record.status == "trialing" or (ends is not None and ends < TOMORROW):
            continue
        usd = cents(record.net_amount, record.currency)
        key = (record.recurring_interval, record.recurring_interval_count)
        per_month = usd * 52 / 12 if key == ("week", 1) else usd / months[key]
        expected += per_month.quantize(Decimal(1), ROUND_HALF_UP)
    day = ANCHOR.date().isoformat()
    (today,) = metrics(fake(), day, day, "day", "monthly_recurring_revenue")["periods"]
    assert today["monthly_recurring_revenue"] == float(expected)
    assert {r.currency for r in BILLING.subscriptions} == set(EXCHANGE_RATES)


def test_product_id_filters_and_does_not_group() -> None:
    day = ANCHOR.date().isoformat()
    whole = metrics(fake(), day, day, "day", "monthly_recurring_revenue", "revenue")["periods"][0]
    products = {record.product_id for record in BILLING.subscriptions}
    parts = [
        metrics(fake(), day, day, "day", "monthly_recurring_revenue", product_id=product)["periods"][0][
            "monthly_recurring_revenue"
        ]
        for product in sorted(products)
    ]
    assert sum(parts) == whole["monthly_recurring_revenue"] and len([p for p in parts if p]) > 3
    both = sorted(products)[:2]
    assert metrics(fake(), day, day, "day", "monthly_recurring_revenue", product_id=both)["periods"][0][
        "monthly_recurring_revenue"
    ] == sum(parts[:2])


def test_billing_type_and_customer_filters() -> None:
    body = metrics(
        fake(),
        "2026-01-01",
        "2026-11-30",
        "month",
        "orders",
        "one_time_products",
        "monthly_recurring_revenue",
        billing_type="one_time",
    )
    assert all(p["orders"] == p["one_time_products"] for p in body["periods"])
    assert all(p["monthly_recurring_revenue"] == 0 for p in body["periods"])
    customer = next(c for c in DEMO if sum(o.customer_id == c["id"] and o.paid for o in BILLING.orders) > 5)
    mine = metrics(fake(), "2023-01-01", "2026-12-31", "year", "orders", customer_id=customer["id"])
    assert mine["totals"]["orders"] == sum(o.customer_id == customer["id"] and o.paid for o in BILLING.orders)
    foreign = metrics(
        fake(),
        "2026-01-01",
        "2026-11-30",
        "month",
        "orders",
        organization_id="0b8e1d0a-4f7c-4a53-9d5e-3f2f4d9b6c11",
    )
    assert foreign["totals"]["orders"] == 0


def test_net_revenue_is_revenue_after_polars_fee_and_refunds() -> None:
    target = fake(usd_only())
    body = metrics(target, "2026-11-01", "2026-11-30", "month", "revenue", "net_revenue")
    (november,) = body["periods"]
    orders = [o for o in usd_only().orders if o.paid and o.created_at.strftime("%Y-%m") == "2026-11"]
    assert november["revenue"] == sum(o.net_amount for o in orders)
    assert november["net_revenue"] == sum(
        o.net_amount - o.platform_fee_amount - o.refunded_amount for o in orders
    )
    assert 0 < november["net_revenue"] < november["revenue"]


def test_totals_follow_polars_rules() -> None:
    body = metrics(fake(), "2026-01-01", "2026-11-30", "month")
    periods, totals = body["periods"], body["totals"]
    assert totals["monthly_recurring_revenue"] == periods[-1]["monthly_recurring_revenue"]  # the last
    assert totals["orders"] == sum(p["orders"] for p in periods)  # the sum
    assert totals["revenue"] == sum(p["revenue"] for p in periods)
    assert totals["churn_rate"] == periods[-1]["churn_rate"]
    assert totals["gross_margin"] == periods[-1]["cumulative_revenue"]  # no costs in the demo
    assert totals["cashflow"] == totals["revenue"]
    assert totals["ltv"] == periods[-1]["ltv"] and totals["ltv"] > 0
    assert periods[-1]["ltv"] == int(periods[-1]["average_revenue_per_user"] / periods[-1]["churn_rate"])
    assert 0 < periods[-1]["average_revenue_per_user"] <= periods[-1]["monthly_recurring_revenue"]
    assert all(p["committed_subscriptions"] <= p["active_subscriptions"] for p in periods)
    assert all(
        p["trial_monthly_recurring_revenue"] >= p["trial_committed_monthly_recurring_revenue"]
        for p in periods
    )
    assert (
        sum(p["renewed_subscriptions"] for p in periods) > 0
        and sum(p["new_subscriptions_revenue"] for p in periods) > 0
    )
