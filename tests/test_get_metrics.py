"""`get_metrics`: the exact query Polar receives, what is refused before any request, each error, the text
as the model reads it, and Polar's MRR agreeing with SQL over the subscriptions for US-dollar billing."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any
from urllib.parse import parse_qsl

import anyio
import pytest
from mcp import Client

from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar, Fault, Grant
from polar_mcp.demo.organization import DEMO_ORGANIZATION_ID
from polar_mcp.server import PolarMCPServer
from polar_mcp.tools.get_metrics import shown
from tests.conftest import make_server
from tests.helpers import text_of
from tests.test_demo_metrics import AS_OF, DEMO, usd_only

pytestmark = pytest.mark.anyio

TODAY = date(2026, 12, 2)


def server_for(fake: FakePolar, today: date = TODAY, demo_mode: bool = False) -> PolarMCPServer:
    built = make_server(fake, demo=demo_mode)
    return PolarMCPServer(dataclasses.replace(built.context, today=lambda: today))


@pytest.fixture
def demo() -> FakePolar:
    return FakePolar(DEMO, as_of=AS_OF)


async def call(server: PolarMCPServer, tool: str, arguments: dict[str, Any]) -> Any:
    with anyio.fail_after(30):
        async with Client(server) as client:
            return await client.call_tool(tool, arguments)


def metric_queries(fake: FakePolar) -> list[list[tuple[str, str]]]:
    return [
        parse_qsl(request.url.query.decode())
        for request in fake.requests
        if request.url.path == "/v1/metrics/"
    ]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            {},
            [
                ("start_date", "2026-01-01"),
                ("end_date", "2026-12-02"),
                ("interval", "month"),
                ("metrics", "monthly_recurring_revenue"),
                ("metrics", "active_subscriptions"),
                ("metrics", "churn_rate"),
                ("metrics", "revenue"),
            ],
        ),
        (
            {
                "metrics": ["churn_rate", "churn_rate", "net_revenue"],
                "start_date": "2026-11-01",
                "end_date": "2026-11-30",
                "interval": "day",
                "timezone": "Europe/Paris",
            },
            [
                ("start_date", "2026-11-01"),
                ("end_date", "2026-11-30"),
                ("interval", "day"),
                ("timezone", "Europe/Paris"),
                ("metrics", "churn_rate"),
                ("metrics", "net_revenue"),
            ],
        ),
    ],
    ids=["defaults: the last twelve months by month", "every argument, a repeated slug once"],
)
async def test_the_query_polar_receives(demo: FakePolar, arguments: dict[str, Any], expected: Any) -> None:
    result = await call(server_for(demo), "get_metrics", arguments)
    assert not result.is_error, text_of(result)
    assert metric_queries(demo) == [expected]


async def test_each_product_is_one_request_named_by_product_name(demo: FakePolar) -> None:
    products = [p for p in demo.products if not p.get("is_archived")][:3]
    arguments = {"metrics": ["monthly_recurring_revenue"], "product_id": [p["id"] for p in products]}
    result = await call(server_for(demo), "get_metrics", arguments)
    assert not result.is_error, text_of(result)
    sent = [dict(query).get("product_id") for query in metric_queries(demo)]
    assert sent == [p["id"] for p in products]
    header = text_of(result).splitlines()[1]
    assert header.split("\t")[1:] == [f"{p['name']}: monthly_recurring_revenue" for p in products]


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"interval": "day", "start_date": "2025-01-01", "end_date": "2026-12-01"}, "Use interval=month"),
        ({"interval": "hour", "start_date": "2026-11-01", "end_date": "2026-11-30"}, "Use interval=day"),
        ({"interval": "month", "start_date": "2019-01-01"}, "no metrics before 2023-01-01"),
        ({"start_date": "2026-05-01", "end_date": "2026-04-01"}, "end_date is before start_date"),
        ({"metrics": ["monthly_recurring_revenu"]}, "Did you mean monthly_recurring_revenue"),
        ({"metrics": ["mrr"]}, "'mrr' is not a Polar metric"),
    ],
    ids=["days over a year", "hours over a week", "before 2023", "end before start", "typo", "unknown"],
)
async def test_refused_before_any_request_saying_what_fits(
    demo: FakePolar, arguments: dict[str, Any], words: str
) -> None:
    result = await call(server_for(demo), "get_metrics", arguments)
    assert result.is_error and words in text_of(result) and "Nothing was sent to Polar" in text_of(result)
    assert metric_queries(demo) == []


async def test_a_token_without_metrics_read_is_told_the_scope_and_the_other_tools_work() -> None:
    grant = Grant(DEMO_ORGANIZATION_ID, frozenset({"customers:read"}))
    fake = FakePolar(DEMO, tokens={DEFAULT_TOKEN: grant}, as_of=AS_OF)
    server = server_for(fake)
    refused = await call(server, "get_metrics", {})
    assert refused.is_error and "metrics:read" in text_of(refused) and "Polar dashboard" in text_of(refused)
    listed = await call(server, "list_customers", {"limit": 1})
    assert not listed.is_error


async def test_polars_422_is_translated_into_what_to_change(demo: FakePolar) -> None:
    demo.fail_next(
        Fault(status=422, body={"detail": [{"loc": ["query", "timezone"], "msg": "Invalid time zone"}]})
    )
    result = await call(server_for(demo), "get_metrics", {"timezone": "Mars/Olympus"})
    assert result.is_error and "timezone: Invalid time zone" in text_of(result)


async def test_the_text_writes_money_and_percentages_and_says_the_last_period_is_partial(
    demo: FakePolar,
) -> None:
    result = await call(server_for(demo, demo_mode=True), "get_metrics", {})
    lines = text_of(result).splitlines()
    assert lines[0].startswith("DEMO DATA")
    assert lines[1].endswith("2026-01-01 to 2026-12-02; the last month is partial.")
    assert lines[2] == "month\tmonthly_recurring_revenue\tactive_subscriptions\tchurn_rate\trevenue"
    first = lines[3].split("\t")
    assert first[0] == "2026-01" and first[1].startswith("$") and first[3].endswith("%")
    assert len(lines) == 3 + 12 + 1
    structured = result.structured_content
    label, mrr, *_ = lines[-1].split("\t")
    assert label.startswith("total") and mrr == shown(
        structured["totals"]["monthly_recurring_revenue"], "currency"
    )
    assert structured["columns"][0] == "period" and len(structured["rows"]) == 12
    assert structured["metrics"]["monthly_recurring_revenue"]["type"] == "currency"
    finished = await call(server_for(demo), "get_metrics", {"end_date": "2026-10-31"})
    assert (
        text_of(finished).splitlines()[0]
        == "By Polar's own definitions, in US dollars, 2025-11-01 to 2026-10-31."
    )


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (1234050, "currency", "$12,340.50"),
        (-250, "currency", "-$2.50"),
        (12.3456, "currency_sub_cent", "$0.1235"),
        (0.0525, "percentage", "5.2%"),
        (1204, "scalar", "1,204"),
        (2.5, "scalar", "2.50"),
        (None, "currency", "-"),
    ],
)
def test_values_are_written_as_what_they_are(value: Any, kind: str, text: str) -> None:
    assert shown(value, kind) == text


async def test_mrr_from_polar_agrees_with_sql_over_the_us_dollar_subscriptions() -> None:
    fake = FakePolar(DEMO, billing=usd_only())
    server = server_for(fake, AS_OF.date())
    day = AS_OF.date().isoformat()
    metrics = await call(
        server,
        "get_metrics",
        {"metrics": ["monthly_recurring_revenue"], "start_date": day, "end_date": day, "interval": "day"},
    )
    assert not metrics.is_error, text_of(metrics)
    (row,) = metrics.structured_content["rows"]
    # Polar's rule, over the table's columns: the monthly share of the net amount, trials left out.
    tomorrow = f"{day}T23:59:59Z"
    sql = f"""
        SELECT SUM(CASE
            WHEN recurring_interval = 'month' THEN net_amount * 1.0 / interval_count
            WHEN recurring_interval = 'year' THEN net_amount / 12.0 / interval_count
            WHEN recurring_interval = 'week' THEN net_amount * 52 / 12.0 / interval_count
            WHEN recurring_interval = 'day' THEN net_amount * 365 / 12.0 / interval_count END)
        FROM subscriptions
        WHERE status IN ('active', 'past_due') AND started_at <= '{tomorrow}'
          AND (trial_end IS NULL OR trial_end <= '{tomorrow}')
          AND COALESCE(ended_at, ends_at, '9999') > '{tomorrow}'
    """
    answer = await call(server, "query_customers", {"sql": sql})
    assert not answer.is_error, text_of(answer)
    ((from_sql,),) = answer.structured_content["rows"]
    assert row[1] == pytest.approx(from_sql, abs=len(fake.billing.subscriptions))
