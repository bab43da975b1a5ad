"""The fake Polar's `GET /v1/metrics/` and `GET /v1/metrics/limits`, as Polar's endpoints answer them.

Parameters as Polar's `server/polar/metrics/endpoints.py` reads them: `start_date`, `end_date` and
`interval` required; `timezone` (an IANA name, default UTC); repeated `organization_id`, `product_id`,
`billing_type`, `customer_id` and `metrics`. Pydantic's problems come first (422), then an unknown
metric slug (422 on `metrics`), then a range too long for its interval, or ending before it starts
(422 on the query). The figures come from `metrics.compute_metrics` over the fake's billing.
"""

from __future__ import annotations

from typing import Any

import httpx

from polar_mcp.demo.fake_billing_export import BillingData, Respond
from polar_mcp.demo.fake_params import (
    Params,
    calendar_date,
    enum_list,
    error,
    metrics_timezone,
    single_enum,
    unexpected,
    uuid4_list,
    validation_error,
)
from polar_mcp.demo.metrics import (
    INTERVALS,
    MAX_INTERVAL_DAYS,
    METRIC_SLUGS,
    MIN_DATE,
    MIN_INTERVAL_DAYS,
    compute_metrics,
    is_under_limits,
)

__all__ = ["LIMITS_PATH", "METRICS_PATH", "METRICS_SCOPES", "limits", "metrics"]

METRICS_PATH = "/v1/metrics/"
LIMITS_PATH = "/v1/metrics/limits"
METRICS_SCOPES = frozenset({"metrics:read"})
_PARAMETERS = {
    "start_date",
    "end_date",
    "timezone",
    "interval",
    "organization_id",
    "product_id",
    "billing_type",
    "customer_id",
    "metrics",
}


def metrics(
    data: BillingData, organization_id: str, params: Params, strict: bool, respond: Respond
) -> httpx.Response:
    """Answer an authenticated `GET /v1/metrics/` for the token's organization."""
    for name, _ in params:
        if strict and name not in _PARAMETERS:
            return respond(400, unexpected(name))
    problems: list[dict[str, Any]] = []
    start_date = calendar_date(params, "start_date", problems, required=True)
    end_date = calendar_date(params, "end_date", problems, required=True)
    timezone = metrics_timezone(params, "timezone", problems)
    interval = single_enum(params, "interval", INTERVALS, problems)
    if interval is None and not any(name == "interval" for name, _ in params):
        problems.append(error(["query", "interval"], "Field required", "missing", None))
    organizations = uuid4_list(params, "organization_id", problems)
    products = uuid4_list(params, "product_id", problems)
    billing_types = enum_list(params, "billing_type", ("one_time", "recurring"), problems)
    customer_ids = uuid4_list(params, "customer_id", problems)
    wanted = [value for name, value in params if name == "metrics"] or None
    if problems:
        return respond(422, validation_error(problems))
    assert start_date is not None and end_date is not None and interval is not None and timezone is not None
    if wanted is not None:
        unknown = sorted(set(wanted) - set(METRIC_SLUGS))
        if unknown:
            return respond(
                422,
                validation_error(
                    [
                        error(
                            ["query", "metrics"],
                            f"Invalid metric slugs: {', '.join(unknown)}",
                            "value_error",
                            wanted,
                        )
                    ]
                ),
            )
    if not is_under_limits(start_date, end_date, interval):
        return respond(
            422,
            validation_error(
                [
                    error(
                        ["query"],
                        "The interval is too small for the given date range. "
                        "Use a larger interval or reduce the date range.",
                        "value_error",
                        [start_date.isoformat(), end_date.isoformat(), interval],
                    )
                ]
            ),
        )
    # An organization token sees its own organization; naming another one leaves nothing to count.
    visible = [c for c in data.customers if c["organization_id"] == organization_id]
    if organizations is not None and organization_id not in organizations:
        visible = []
    body = compute_metrics(
        data.billing,
        start_date=start_date,
        end_date=end_date,
        interval=interval,
        timezone=timezone,
        product_id=products,
        billing_type=billing_types,
        customer_id=customer_ids,
        metrics=wanted,
        customers=visible,
    )
    return respond(200, body)


def limits(
    data: BillingData, organization_id: str, params: Params, strict: bool, respond: Respond
) -> httpx.Response:
    """Answer `GET /v1/metrics/limits`: the earliest date, and each interval's range in days."""
    for name, _ in params:
        if strict:
            return respond(400, unexpected(name))
    return respond(
        200,
        {
            "min_date": MIN_DATE.isoformat(),
            "intervals": {
                interval: {"min_days": MIN_INTERVAL_DAYS[interval], "max_days": MAX_INTERVAL_DAYS[interval]}
                for interval in ("hour", "day", "week", "month", "year")
            },
        },
    )
