"""Polar's metrics (`GET /v1/metrics/`): the slugs of the 2026-10 version, the range each interval
allows, and the answer's envelope, read leniently.

Polar computes every figure itself, by its own definitions: money in US dollar cents (other currencies
converted at its exchange rates), percentages as fractions (0.05 is 5%), one value per period and a
total (or latest value) per metric.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, InstanceOf

from polar_mcp.errors import InvalidResponse

__all__ = [
    "EARLIEST",
    "METRIC_SLUGS",
    "RANGE_DAYS",
    "ApiMetrics",
    "Interval",
    "parse_metrics",
]

Interval = Literal["hour", "day", "week", "month", "year"]
METRIC_SLUGS: tuple[str, ...] = tuple(
    [
        "active_subscriptions",
        "committed_subscriptions",
        "monthly_recurring_revenue",
        "trial_monthly_recurring_revenue",
        "committed_monthly_recurring_revenue",
        "trial_committed_monthly_recurring_revenue",
        "average_revenue_per_user",
        "checkouts",
        "succeeded_checkouts",
        "churned_subscriptions",
        "churn_rate",
        "seats_total",
        "seats_claimed",
        "seats_pending",
        "seat_customers",
        "new_seat_customers",
        "churned_seat_customers",
        "orders",
        "revenue",
        "net_revenue",
        "cumulative_revenue",
        "net_cumulative_revenue",
        "costs",
        "cumulative_costs",
        "average_order_value",
        "net_average_order_value",
        "cost_per_user",
        "active_user_by_event",
        "one_time_products",
        "one_time_products_revenue",
        "one_time_products_net_revenue",
        "new_subscriptions",
        "new_subscriptions_revenue",
        "new_subscriptions_net_revenue",
        "renewed_subscriptions",
        "renewed_subscriptions_revenue",
        "renewed_subscriptions_net_revenue",
        "canceled_subscriptions",
        "canceled_subscriptions_customer_service",
        "canceled_subscriptions_low_quality",
        "canceled_subscriptions_missing_features",
        "canceled_subscriptions_switched_service",
        "canceled_subscriptions_too_complex",
        "canceled_subscriptions_too_expensive",
        "canceled_subscriptions_unused",
        "canceled_subscriptions_other",
        "annual_recurring_revenue",
        "committed_annual_recurring_revenue",
        "checkouts_conversion",
        "ltv",
        "gross_margin",
        "gross_margin_percentage",
        "cashflow",
        "average_seats_per_customer",
        "seat_utilization_rate",
    ]
)
"""Every metric of Polar's 2026-10 API version, in its own order."""
RANGE_DAYS: dict[Interval, int] = {"hour": 7, "day": 366, "week": 371, "month": 1460, "year": 3650}
"""The longest range, in days, Polar computes for each interval (`GET /v1/metrics/limits`)."""
EARLIEST = date(2023, 1, 1)
"""Polar has no metrics before this day."""


class ApiMetric(BaseModel):
    model_config = ConfigDict(extra="allow")

    slug: str
    display_name: str = ""
    type: str = "scalar"


class ApiMetrics(BaseModel):
    """`GET /v1/metrics/` body: periods (a timestamp and a value per metric), totals, and what each is."""

    model_config = ConfigDict(extra="allow")

    periods: list[InstanceOf[dict[str, Any]]]
    totals: dict[str, Any]
    metrics: dict[str, ApiMetric | None]


def parse_metrics(payload: Any) -> ApiMetrics:
    """Validate the envelope; raise `InvalidResponse` when it is not a metrics answer."""
    try:
        return ApiMetrics.model_validate(payload)
    except ValueError as exc:
        raise InvalidResponse(f"the JSON is not a metrics answer ({str(exc).splitlines()[0]})") from None
