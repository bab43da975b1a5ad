"""Polar's metrics (`GET /v1/metrics/`) computed from the sample organization's subscriptions and orders.

Followed from Polar's `server/polar/metrics/` (`metrics.py`, `queries.py`, `service.py`) and its Tinybird
pipes (`server/tinybird/endpoints/metrics_*.pipe`), with each bucket's `date_trunc` in the requested
time zone:

- Buckets: from the start date's midnight (truncated to its Monday, month or year) to the end date's
  last microsecond, one per interval; a bucket holds what `date_trunc(interval, ·)` maps to its start.
- `active_subscriptions`: started in or before the bucket, and not ended (`ended_at`, else `ends_at`) in
  or before it; so one set to cancel stays active until the bucket it ends in. Any status counts.
- `monthly_recurring_revenue`: the active ones' net amount in US cents, per month (a year's over 12, a
  week's times 52/12, each rounded), leaving out trials that end after the bucket; past due included.
  `annual_recurring_revenue` is 12 times it. `committed_*`: those not set to end. `trial_*`: the trials.
- `average_revenue_per_user`: MRR over the active subscriptions' distinct customers, rounded.
- `churned_subscriptions`: ended (or set to end) in the bucket.
- `churn_rate`: subscriptions canceled in the 30 days before the bucket's start (in the bucket, for
  years), over those active 30 days before it (at its start, for years). Polar's docs say "churned
  over active at the interval's start"; its code counts cancellations, and so does this.
- `canceled_subscriptions` (and per reason; no reason counts as `other`): `canceled_at` in the bucket.
- `new_subscriptions`: started in the bucket and not ended in it.
- `orders`: paid orders (refunded ones included), $0 trial orders too; `revenue`: their net amount
  (after discount, before tax) in US cents; `net_revenue`: revenue minus Polar's fee minus refunds;
  `cumulative_*`: all revenue up to the bucket's end, history before the range included;
  `average_order_value`: revenue over orders, rounded up; `one_time_products*`: orders without a
  subscription; `new_subscriptions_revenue` and `renewed_subscriptions*`: subscription orders whose
  subscription started in (or before) the bucket.
- Costs, checkouts and seats: the demo has none, so they are 0; so are the metrics built on them.

Currency metrics are US cents at the fixed rates of `money.py`. `compute_metrics` returns the JSON body
Polar answers with, the requested metrics only (every one without `metrics`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from polar_mcp.demo.ledger import SampleBilling
from polar_mcp.demo.money import polar_round, to_usd_cents
from polar_mcp.demo.subscriptions import CANCELLATION_REASONS, SubscriptionRecord

__all__ = [
    "INTERVALS",
    "MAX_INTERVAL_DAYS",
    "METRICS",
    "METRIC_SLUGS",
    "MIN_DATE",
    "MIN_INTERVAL_DAYS",
    "Metric",
    "compute_metrics",
    "is_under_limits",
    "monthly_amount",
]

INTERVALS = ("year", "month", "week", "day", "hour")
MIN_DATE = date(2023, 1, 1)
MAX_INTERVAL_DAYS = {"hour": 7, "day": 366, "week": 7 * 53, "month": 365 * 4, "year": 365 * 10}
MIN_INTERVAL_DAYS = {"hour": 0, "day": 0, "week": 14, "month": 60, "year": 366}


@dataclass(frozen=True)
class Metric:
    """A metric as Polar describes it: slug, display name, type; where Polar computes it (`postgres`,
    `tinybird`, or `meta` from other metrics) and how its total over the range is taken."""

    slug: str
    display_name: str
    type: str
    source: str
    total: str  # "last", "sum", or the name of a special rule
    dependencies: tuple[str, ...] = ()


def _m(slug: str, name: str, kind: str, source: str, total: str, *deps: str) -> Metric:
    return Metric(slug, name, kind, source, total, deps)


# In the order of Polar's `MetricPeriod` schema (the response's key order).
METRICS: tuple[Metric, ...] = (
    _m("active_subscriptions", "Active Subscriptions", "scalar", "postgres", "last"),
    _m("committed_subscriptions", "Committed Subscriptions", "scalar", "postgres", "last"),
    _m("monthly_recurring_revenue", "Monthly Recurring Revenue", "currency", "postgres", "last"),
    _m(
        "trial_monthly_recurring_revenue",
        "Trialing MRR Including Cancelations",
        "currency",
        "postgres",
        "last",
    ),
    _m(
        "committed_monthly_recurring_revenue",
        "Committed Monthly Recurring Revenue",
        "currency",
        "postgres",
        "last",
    ),
    _m(
        "trial_committed_monthly_recurring_revenue",
        "Trialing Monthly Recurring Revenue",
        "currency",
        "postgres",
        "last",
    ),
    _m("average_revenue_per_user", "Average Revenue Per User", "currency", "postgres", "last"),
    _m("checkouts", "Checkouts", "scalar", "postgres", "sum"),
    _m("succeeded_checkouts", "Succeeded Checkouts", "scalar", "postgres", "sum"),
    _m("churned_subscriptions", "Churned Subscriptions", "scalar", "postgres", "sum"),
    _m("churn_rate", "Churn Rate", "percentage", "postgres", "last"),
    _m("seats_total", "Seat Count", "scalar", "postgres", "last"),
    _m("seats_claimed", "Claimed Seats", "scalar", "postgres", "last"),
    _m("seats_pending", "Pending Seats", "scalar", "postgres", "last"),
    _m("seat_customers", "Active Customers", "scalar", "postgres", "last"),
    _m("new_seat_customers", "New Customers", "scalar", "postgres", "sum"),
    _m("churned_seat_customers", "Churned Customers", "scalar", "postgres", "sum"),
    _m("orders", "Orders", "scalar", "tinybird", "sum"),
    _m("revenue", "Revenue", "currency", "tinybird", "sum"),
    _m("net_revenue", "Net Revenue", "currency", "tinybird", "sum"),
    _m("cumulative_revenue", "Cumulative Revenue", "currency", "tinybird", "last"),
    _m("net_cumulative_revenue", "Net Cumulative Revenue", "currency", "tinybird", "last"),
    _m("costs", "Costs", "currency_sub_cent", "tinybird", "sum"),
    _m("cumulative_costs", "Cumulative Costs", "currency_sub_cent", "tinybird", "last"),
    _m("average_order_value", "Average Order Value", "currency", "tinybird", "average_order_value"),
    _m(
        "net_average_order_value",
        "Net Average Order Value",
        "currency",
        "tinybird",
        "net_average_order_value",
    ),
    _m("cost_per_user", "Cost Per User", "currency_sub_cent", "tinybird", "cost_per_user"),
    _m("active_user_by_event", "Active User (By event)", "scalar", "tinybird", "active_user_by_event"),
    _m("one_time_products", "One-Time Products", "scalar", "tinybird", "sum"),
    _m("one_time_products_revenue", "One-Time Products Revenue", "currency", "tinybird", "sum"),
    _m("one_time_products_net_revenue", "One-Time Products Net Revenue", "currency", "tinybird", "sum"),
    _m("new_subscriptions", "New Subscriptions", "scalar", "tinybird", "sum"),
    _m("new_subscriptions_revenue", "New Subscriptions Revenue", "currency", "tinybird", "sum"),
    _m("new_subscriptions_net_revenue", "New Subscriptions Net Revenue", "currency", "tinybird", "sum"),
    _m("renewed_subscriptions", "Renewed Subscriptions", "scalar", "tinybird", "sum"),
    _m("renewed_subscriptions_revenue", "Renewed Subscriptions Revenue", "currency", "tinybird", "sum"),
    _m(
        "renewed_subscriptions_net_revenue",
        "Renewed Subscriptions Net Revenue",
        "currency",
        "tinybird",
        "sum",
    ),
    _m("canceled_subscriptions", "Canceled Subscriptions", "scalar", "tinybird", "sum"),
    *(
        _m(
            f"canceled_subscriptions_{reason}",
            f"Canceled Subscriptions - {reason.replace('_', ' ').title()}",
            "scalar",
            "tinybird",
            "sum",
        )
        for reason in CANCELLATION_REASONS
    ),
    _m(
        "annual_recurring_revenue",
        "Annual Recurring Revenue",
        "currency",
        "meta",
        "last",
        "monthly_recurring_revenue",
    ),
    _m(
        "committed_annual_recurring_revenue",
        "Committed Annual Recurring Revenue",
        "currency",
        "meta",
        "last",
        "committed_monthly_recurring_revenue",
    ),
    _m(
        "checkouts_conversion",
        "Checkouts Conversion Rate",
        "percentage",
        "meta",
        "checkouts_conversion",
        "checkouts",
        "succeeded_checkouts",
    ),
    _m(
        "ltv",
        "Lifetime Value",
        "currency",
        "meta",
        "ltv",
        "average_revenue_per_user",
        "cost_per_user",
        "churn_rate",
    ),
    _m("gross_margin", "Gross Margin", "currency", "meta", "last", "cumulative_revenue", "cumulative_costs"),
    _m(
        "gross_margin_percentage",
        "Gross Margin %",
        "percentage",
        "meta",
        "last",
        "cumulative_revenue",
        "cumulative_costs",
    ),
    _m("cashflow", "Cashflow", "currency", "meta", "sum", "revenue", "costs"),
    _m(
        "average_seats_per_customer",
        "Average Seats per Customer",
        "scalar",
        "meta",
        "float_last",
        "seats_total",
        "seat_customers",
    ),
    _m(
        "seat_utilization_rate",
        "Seat Utilization Rate",
        "percentage",
        "meta",
        "float_last",
        "seats_claimed",
        "seats_total",
    ),
)
METRIC_SLUGS = tuple(metric.slug for metric in METRICS)
_BY_SLUG = {metric.slug: metric for metric in METRICS}
# Polar computes the meta metrics in this order (`METRICS_POST_COMPUTE`).
_META_ORDER = (
    "annual_recurring_revenue",
    "committed_annual_recurring_revenue",
    "checkouts_conversion",
    "ltv",
    "gross_margin",
    "gross_margin_percentage",
    "cashflow",
    "average_seats_per_customer",
    "seat_utilization_rate",
)
_ZERO_POSTGRES = (
    "checkouts",
    "succeeded_checkouts",
    "seats_total",
    "seats_claimed",
    "seats_pending",
    "seat_customers",
    "new_seat_customers",
    "churned_seat_customers",
)
_ZERO_TINYBIRD = ("costs", "cumulative_costs", "cost_per_user", "active_user_by_event")


def is_under_limits(start_date: date, end_date: date, interval: str) -> bool:
    """Polar's range check: the start not after the end, and at most `MAX_INTERVAL_DAYS` apart."""
    if start_date > end_date:
        return False
    return end_date.toordinal() - start_date.toordinal() <= MAX_INTERVAL_DAYS[interval]


def monthly_amount(record: SubscriptionRecord) -> Decimal:
    """The subscription's net amount in US cents, normalised to a month and rounded, as MRR sums it."""
    converted = Decimal(to_usd_cents(record.net_amount, record.currency))
    count = record.recurring_interval_count
    interval = record.recurring_interval
    if interval == "year":
        return Decimal(polar_round(converted / (12 * count)))
    if interval == "month":
        return Decimal(polar_round(converted / count))
    if interval == "week":
        return Decimal(polar_round(converted * 52 / (12 * count)))
    return Decimal(polar_round(converted * 365 / (12 * count)))


class _Buckets:
    """The bucket starts of a range, and the bucket any moment falls in (-1 before, `n` after)."""

    def __init__(self, starts: list[datetime], interval: str) -> None:
        self.starts = starts
        self.interval = interval
        self.bounds = [*starts, _step(starts[-1], interval, 1)]
        self.n = len(starts)

    def index(self, moment: datetime | None, missing: int) -> int:
        if moment is None:
            return missing
        if moment < self.bounds[0]:
            return -1
        if moment >= self.bounds[-1]:
            return self.n
        return bisect.bisect_right(self.bounds, moment) - 1


def _step(moment: datetime, interval: str, count: int) -> datetime:
    """`moment + count intervals` as PostgreSQL adds an interval to a timestamptz in the session's zone:
    hours in absolute time, days, weeks, months and years on the local calendar."""
    tz = moment.tzinfo
    assert tz is not None
    if interval == "hour":
        return (moment.astimezone(UTC) + timedelta(hours=count)).astimezone(tz)
    local = moment.replace(tzinfo=None)
    if interval in ("day", "week"):
        local += timedelta(days=count * (7 if interval == "week" else 1))
    else:
        months = local.month - 1 + count * (12 if interval == "year" else 1)
        local = local.replace(year=local.year + months // 12, month=months % 12 + 1)
    return local.replace(tzinfo=tz)


def _series(start: datetime, end: datetime, interval: str) -> list[datetime]:
    starts: list[datetime] = []
    index = 0
    while True:
        moment = _step(start, interval, index) if index else start
        if moment > end:
            return starts
        starts.append(moment)
        index += 1


def compute_metrics(
    billing: SampleBilling,
    *,
    start_date: date,
    end_date: date,
    interval: str,
    timezone: str | ZoneInfo = "UTC",
    product_id: Sequence[str] | None = None,
    billing_type: Sequence[str] | None = None,
    customer_id: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    customers: Iterable[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Polar's `MetricsResponse` for the billing: `periods`, `totals` and `metrics` (slug, display name,
    type) for the requested slugs (all without `metrics`). `customers`, when given, are those the
    token may see (by default, the billing's). Raises `ValueError` for an unknown slug or interval."""
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}")
    unknown = sorted(set(metrics or ()) - set(METRIC_SLUGS))
    if unknown:
        raise ValueError(f"Invalid metric slugs: {', '.join(unknown)}")
    tz = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    start_ts = datetime(start_date.year, start_date.month, start_date.day, tzinfo=tz)
    end_ts = datetime(end_date.year, end_date.month, end_date.day, 23, 59, 59, 999999, tzinfo=tz)
    series_start = start_ts
    if interval == "week":
        series_start = start_ts - timedelta(days=start_ts.weekday())
    elif interval == "month":
        series_start = start_ts.replace(day=1)
    elif interval == "year":
        series_start = start_ts.replace(month=1, day=1)
    buckets = _Buckets(_series(series_start, end_ts, interval), interval)

    requested = list(METRIC_SLUGS) if metrics is None else [s for s in METRIC_SLUGS if s in set(metrics)]
    resolved = _resolve(requested)
    visible = {c["id"] for c in (customers if customers is not None else billing.customers)}
    wanted_customers = {c.lower() for c in customer_id} if customer_id is not None else None
    subscriptions = _subscriptions(billing, visible, wanted_customers, product_id, billing_type)
    values: dict[str, list[Any]] = {}
    if any(_BY_SLUG[s].source == "postgres" for s in resolved):
        values.update(_postgres(subscriptions, buckets, start_ts, end_ts))
    if any(_BY_SLUG[s].source == "tinybird" for s in resolved):
        # Polar hands billing types to Tinybird as the products of those types; no product at all means
        # no product filter there (an empty list is not sent).
        tinybird_products = _tinybird_products(billing, product_id, billing_type)
        tb_subscriptions = _subscriptions(billing, visible, wanted_customers, tinybird_products, None)
        orders = _orders(billing, visible, wanted_customers, tinybird_products)
        values.update(_tinybird(billing, tb_subscriptions, orders, buckets, series_start, start_ts, end_ts))
    periods = [
        {slug: values[slug][k] for slug in METRIC_SLUGS if slug in values and slug in resolved}
        for k in range(buckets.n)
    ]
    for period in periods:
        for slug in _META_ORDER:
            if slug in resolved:
                period[slug] = 0
        for slug in _META_ORDER:
            if slug in resolved:
                period[slug] = _META[slug](period)
    totals = {slug: _total(_BY_SLUG[slug], periods) for slug in requested}
    in_utc = any(_BY_SLUG[s].source == "postgres" for s in resolved)
    body_periods = []
    for moment, period in zip(buckets.starts, periods, strict=True):
        row: dict[str, Any] = {"timestamp": _timestamp(moment, in_utc)}
        row.update({slug: period[slug] for slug in requested})
        body_periods.append(row)
    return {
        "periods": body_periods,
        "totals": totals,
        "metrics": {
            slug: {"slug": slug, "display_name": _BY_SLUG[slug].display_name, "type": _BY_SLUG[slug].type}
            for slug in requested
        },
    }


def _resolve(requested: Sequence[str]) -> set[str]:
    found: set[str] = set()

    def visit(slug: str) -> None:
        if slug in found:
            return
        found.add(slug)
        for dependency in _BY_SLUG[slug].dependencies:
            visit(dependency)

    for slug in requested:
        visit(slug)
    return found


def _timestamp(moment: datetime, in_utc: bool) -> str:
    # Postgres hands timestamps back in UTC; Tinybird's are read in the requested zone.
    value = moment.astimezone(UTC) if in_utc else moment
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _subscriptions(
    billing: SampleBilling,
    visible: set[str],
    wanted_customers: set[str] | None,
    product_id: Sequence[str] | None,
    billing_type: Sequence[str] | None,
) -> list[SubscriptionRecord]:
    products = {p.lower() for p in product_id} if product_id is not None else None
    by_id = billing.catalogue.by_id
    types = set(billing_type) if billing_type is not None else None
    return [
        record
        for record in billing.subscriptions
        if record.customer_id in visible
        and (wanted_customers is None or record.customer_id in wanted_customers)
        and (products is None or record.product_id in products)
        and (types is None or _billing_type(by_id[record.product_id].recurring) in types)
    ]


def _billing_type(recurring: bool) -> str:
    return "recurring" if recurring else "one_time"


def _tinybird_products(
    billing: SampleBilling, product_id: Sequence[str] | None, billing_type: Sequence[str] | None
) -> list[str] | None:
    if billing_type is None:
        return [p.lower() for p in product_id] if product_id is not None else None
    of_type = [p.id for p in billing.catalogue.products if _billing_type(p.recurring) in set(billing_type)]
    chosen = [p.lower() for p in product_id if p.lower() in of_type] if product_id is not None else of_type
    return chosen or None


def _orders(
    billing: SampleBilling,
    visible: set[str],
    wanted_customers: set[str] | None,
    products: Sequence[str] | None,
) -> list[Any]:
    wanted = set(products) if products is not None else None
    return [
        order
        for order in billing.orders
        if order.paid
        and order.customer_id in visible
        and (wanted_customers is None or order.customer_id in wanted_customers)
        and (wanted is None or order.product_id in wanted)
    ]


def _ends(record: SubscriptionRecord) -> datetime | None:
    return record.ended_at or record.ends_at


def _postgres(
    subscriptions: list[SubscriptionRecord], buckets: _Buckets, start_ts: datetime, end_ts: datetime
) -> dict[str, list[Any]]:
    n = buckets.n
    count = [0] * (n + 1)
    committed = [0] * (n + 1)
    mrr = [Decimal(0)] * (n + 1)
    committed_mrr = [Decimal(0)] * (n + 1)
    trial_mrr = [Decimal(0)] * (n + 1)
    trial_committed_mrr = [Decimal(0)] * (n + 1)
    churned = [0] * n
    ranges: dict[str, list[tuple[int, int]]] = {}

    def add(array: list[Any], first: int, last: int, value: Any) -> None:
        first, last = max(first, 0), min(last, n)
        if first < last:
            array[first] += value
            array[last] -= value

    for record in subscriptions:
        ends = _ends(record)
        if record.started_at is not None and record.started_at > end_ts:
            continue
        if ends is not None and ends < start_ts:
            continue
        first = buckets.index(record.started_at, -1)
        last = buckets.index(ends, n + 1)  # active while the bucket is before the end's bucket
        if first >= last:
            continue
        amount = monthly_amount(record)
        paying_from = buckets.index(record.trial_end, -1)  # out of trial from the bucket it ends in
        open_ended = ends is None  # Polar's "not ended as of the bucket", given it is active
        add(count, first, last, 1)
        add(mrr, max(first, paying_from), last, amount)
        add(trial_mrr, first, min(last, paying_from), amount)
        if open_ended:
            add(committed, first, last, 1)
            add(committed_mrr, max(first, paying_from), last, amount)
            add(trial_committed_mrr, first, min(last, paying_from), amount)
        ranges.setdefault(record.customer_id, []).append((max(first, 0), min(last, n)))
    for record in subscriptions:
        ends = _ends(record)
        if ends is not None and start_ts <= ends <= end_ts:
            index = buckets.index(ends, -1)
            if 0 <= index < n:
                churned[index] += 1
    customers = [0] * (n + 1)
    for spans in ranges.values():
        spans.sort()
        open_first, open_last = spans[0]
        for first, last in spans[1:]:
            if first <= open_last:
                open_last = max(open_last, last)
                continue
            add(customers, open_first, open_last, 1)
            open_first, open_last = first, last
        add(customers, open_first, open_last, 1)

    def running(array: list[Any]) -> list[Any]:
        total: Any = type(array[0])(0)
        found = []
        for value in array[:n]:
            total += value
            found.append(total)
        return found

    values: dict[str, list[Any]] = {
        "active_subscriptions": running(count),
        "committed_subscriptions": running(committed),
        # Postgres sums the rounded monthly amounts as numerics, which reach JSON as floats.
        "monthly_recurring_revenue": [float(v) for v in running(mrr)],
        "committed_monthly_recurring_revenue": [float(v) for v in running(committed_mrr)],
        "trial_monthly_recurring_revenue": [float(v) for v in running(trial_mrr)],
        "trial_committed_monthly_recurring_revenue": [float(v) for v in running(trial_committed_mrr)],
        "churned_subscriptions": churned,
        "churn_rate": _churn_rate(subscriptions, buckets),
    }
    subscribers = running(customers)
    values["average_revenue_per_user"] = [
        0 if people == 0 else polar_round(Decimal(revenue) / people)
        for revenue, people in zip(values["monthly_recurring_revenue"], subscribers, strict=True)
    ]
    for slug in _ZERO_POSTGRES:
        values[slug] = [0] * n
    return values


def _churn_rate(subscriptions: list[SubscriptionRecord], buckets: _Buckets) -> list[float]:
    started = sorted(r.started_at for r in subscriptions if r.started_at is not None)
    never_started = sum(1 for r in subscriptions if r.started_at is None)
    ended = sorted(e for r in subscriptions if (e := _ends(r)) is not None)
    canceled = sorted(r.canceled_at for r in subscriptions if r.canceled_at is not None)
    rates = []
    for moment in buckets.starts:
        if buckets.interval == "year":
            window_start, window_end = moment, _step(moment, "year", 1)
        else:
            window_start, window_end = moment - timedelta(days=30), moment
        active = (
            never_started
            + bisect.bisect_right(started, window_start)
            - bisect.bisect_right(ended, window_start)
        )
        lost = bisect.bisect_left(canceled, window_end) - bisect.bisect_left(canceled, window_start)
        rates.append(float(Decimal(lost) / Decimal(active)) if active > 0 else 0.0)
    return rates


def _tinybird(
    billing: SampleBilling,
    subscriptions: list[SubscriptionRecord],
    orders: list[Any],
    buckets: _Buckets,
    series_start: datetime,
    start_ts: datetime,
    end_ts: datetime,
) -> dict[str, list[Any]]:
    n = buckets.n
    names = (
        "orders",
        "revenue",
        "net_revenue",
        "one_time_products",
        "one_time_products_revenue",
        "one_time_products_net_revenue",
        "new_subscriptions",
        "new_subscriptions_revenue",
        "new_subscriptions_net_revenue",
        "renewed_subscriptions_revenue",
        "renewed_subscriptions_net_revenue",
        "canceled_subscriptions",
        *(f"canceled_subscriptions_{reason}" for reason in CANCELLATION_REASONS),
    )
    values: dict[str, list[Any]] = {name: [0] * n for name in names}
    renewed: list[set[str]] = [set() for _ in range(n)]
    history = history_net = 0
    started_at = {r.id: r.started_at for r in billing.subscriptions}
    for order in orders:
        revenue = to_usd_cents(order.net_amount, order.currency)
        net = revenue - order.platform_fee_amount - to_usd_cents(order.refunded_amount, order.currency)
        if order.created_at < start_ts:
            history += revenue
            history_net += net
            continue
        if order.created_at > end_ts:
            continue
        k = buckets.index(order.created_at, -1)
        if not 0 <= k < n:
            continue
        values["orders"][k] += 1
        values["revenue"][k] += revenue
        values["net_revenue"][k] += net
        if order.subscription_id is None:
            values["one_time_products"][k] += 1
            values["one_time_products_revenue"][k] += revenue
            values["one_time_products_net_revenue"][k] += net
            continue
        started = started_at.get(order.subscription_id)
        if started is None:
            continue
        if buckets.index(started, -1) == k:
            values["new_subscriptions_revenue"][k] += revenue
            values["new_subscriptions_net_revenue"][k] += net
        else:
            renewed[k].add(order.subscription_id)
            values["renewed_subscriptions_revenue"][k] += revenue
            values["renewed_subscriptions_net_revenue"][k] += net
    values["renewed_subscriptions"] = [len(ids) for ids in renewed]
    values["average_order_value"] = [
        math.ceil(revenue / count) if count else 0
        for revenue, count in zip(values["revenue"], values["orders"], strict=True)
    ]
    values["net_average_order_value"] = [
        math.ceil(net / count) if count else 0
        for net, count in zip(values["net_revenue"], values["orders"], strict=True)
    ]
    cumulative, net_cumulative = [], []
    for revenue, net in zip(values["revenue"], values["net_revenue"], strict=True):
        history += revenue
        history_net += net
        cumulative.append(history)
        net_cumulative.append(history_net)
    values["cumulative_revenue"] = cumulative
    values["net_cumulative_revenue"] = net_cumulative
    for record in subscriptions:
        created = record.started_at
        if created is not None and series_start <= created <= end_ts:
            k = buckets.index(created, -1)
            ends = buckets.index(record.ends_at, n + 1)
            if 0 <= k < n and (record.ends_at is None or ends > k):
                values["new_subscriptions"][k] += 1
        canceled = record.canceled_at
        if canceled is not None and start_ts <= canceled < end_ts:
            k = buckets.index(canceled, -1)
            if 0 <= k < n:
                values["canceled_subscriptions"][k] += 1
                reason = record.customer_cancellation_reason or "other"
                values[f"canceled_subscriptions_{reason}"][k] += 1
    for slug in _ZERO_TINYBIRD:
        values[slug] = [0] * n
    return values


def _ltv(period: dict[str, Any]) -> int:
    churn_rate = period.get("churn_rate") or 0
    if churn_rate == 0:
        return 0
    per_user = (period.get("average_revenue_per_user") or 0) - (period.get("cost_per_user") or 0)
    return max(0, int(per_user / churn_rate))


def _ratio(numerator: str, denominator: str) -> Callable[[dict[str, Any]], float]:
    def compute(period: dict[str, Any]) -> float:
        below = period.get(denominator) or 0
        return (period.get(numerator) or 0) / below if below > 0 else 0.0

    return compute


def _margin_percentage(period: dict[str, Any]) -> float:
    revenue = period.get("cumulative_revenue") or 0
    costs = period.get("cumulative_costs") or 0
    return (revenue - costs) / revenue if revenue > 0 else 0.0


_META: dict[str, Callable[[dict[str, Any]], Any]] = {
    "annual_recurring_revenue": lambda p: (p.get("monthly_recurring_revenue") or 0) * 12,
    "committed_annual_recurring_revenue": lambda p: (p.get("committed_monthly_recurring_revenue") or 0) * 12,
    "checkouts_conversion": _ratio("succeeded_checkouts", "checkouts"),
    "ltv": _ltv,
    "gross_margin": lambda p: (p.get("cumulative_revenue") or 0) - (p.get("cumulative_costs") or 0),
    "gross_margin_percentage": _margin_percentage,
    "cashflow": lambda p: (p.get("revenue") or 0) - (p.get("costs") or 0),
    "average_seats_per_customer": _ratio("seats_total", "seat_customers"),
    "seat_utilization_rate": _ratio("seats_claimed", "seats_total"),
}


def _sum(periods: list[dict[str, Any]], slug: str) -> Any:
    return sum(period.get(slug) or 0 for period in periods)


def _last(periods: list[dict[str, Any]], slug: str) -> Any:
    value = periods[-1].get(slug) if periods else None
    return value if value is not None else 0


def _total(metric: Metric, periods: list[dict[str, Any]]) -> Any:
    """The metric's total over the range, by Polar's `get_cumulative` (which reads only the periods'
    computed values: a dependency that was not requested reads as 0)."""
    rule, slug = metric.total, metric.slug
    if rule == "sum":
        return _sum(periods, slug)
    if rule == "last":
        return _last(periods, slug)
    if rule == "float_last":
        return float(_last(periods, slug))
    if rule == "ltv":
        return int(_last(periods, slug))
    if rule in ("average_order_value", "net_average_order_value"):
        orders = _sum(periods, "orders")
        revenue = _sum(periods, "revenue" if rule == "average_order_value" else "net_revenue")
        return revenue / orders if orders > 0 else 0.0
    if rule == "checkouts_conversion":
        checkouts = _sum(periods, "checkouts")
        return _sum(periods, "succeeded_checkouts") / checkouts if checkouts > 0 else 0.0
    if rule == "cost_per_user":
        users = _last(periods, "active_subscriptions")
        return _sum(periods, "costs") / users if users > 0 else 0.0
    if rule == "active_user_by_event":
        return int(_last(periods, "active_subscriptions"))
    raise AssertionError(f"no total rule {rule!r}")
