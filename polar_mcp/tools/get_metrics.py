"""The `get_metrics` tool: the figures the merchant's Polar dashboard shows (MRR, churn, revenue, ...) per
period, as Polar computes them, in one call: its arguments, its function, its output model and its text."""

from __future__ import annotations

import difflib
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, Field

from polar_mcp.errors import ScopeError
from polar_mcp.polar.metrics import EARLIEST, METRIC_SLUGS, RANGE_DAYS, ApiMetrics, Interval
from polar_mcp.tools.base import Tool, ToolContext
from polar_mcp.tools.render import cell
from polar_mcp.tools.schema import sample_notice
from polar_mcp.views import QUERY_CHART

__all__ = ["DEFAULT_METRICS", "NAME", "TOOL", "MetricsAnswer", "get_metrics", "render_metrics"]

NAME = "get_metrics"
TITLE = "Polar dashboard metrics"
MAX_METRICS = 12
MAX_PRODUCTS = 8
DEFAULT_METRICS = ("monthly_recurring_revenue", "active_subscriptions", "churn_rate", "revenue")
DEFAULT_MONTHS = 12
SEPARATOR = "\t"
# Polar's totals: a flow (revenue, orders) adds up, a level (MRR, active subscriptions) is its latest value.
TOTALS_LABEL = "total (sum, or latest for levels like MRR)"
SCOPE_HELP = (
    "get_metrics needs the metrics:read scope: add it to the token in the Polar dashboard (Settings, then "
    "Developers), put the token in POLAR_ACCESS_TOKEN and restart the MCP server. The other tools work as "
    "they are."
)
DESCRIPTION = f"""Polar's own dashboard figures per period, by its definitions (US dollars; MRR without \
trials, with past-due).
metrics: Polar's slugs such as monthly_recurring_revenue, churn_rate, net_revenue, ltv. Default: MRR, \
active subscriptions, churn rate, revenue; {DEFAULT_MONTHS} months by month."""

ARGUMENT_HINTS: dict[str, str] = {
    "metrics": f"a list of up to {MAX_METRICS} of Polar's metric slugs, such as monthly_recurring_revenue",
    "start_date": "a date such as 2026-01-01, from 2023-01-01 on",
    "end_date": "a date such as 2026-12-31, not before start_date",
    "interval": "hour, day, week, month or year",
    "product_id": f"a list of up to {MAX_PRODUCTS} product UUIDs",
    "timezone": "an IANA time zone such as Europe/Paris",
}
ARGUMENT_ALIASES: dict[str, str] = {
    "metric": "use metrics, a list",
    "from": "use start_date",
    "to": "use end_date",
    "period": "use interval",
    "granularity": "use interval",
    "product": "use product_id, a list of product IDs (query_customers reads them from products)",
}


def _undescribed(schema: dict[str, Any]) -> None:
    schema.pop("description", None)  # the description says what the answer is; each tools/list pays


class MetricsAnswer(BaseModel):
    """Per period, each metric's value as Polar computed it; `columns`/`rows` are the same table."""

    model_config = ConfigDict(json_schema_extra=_undescribed)

    metrics: dict[str, Any]
    """Per slug: its `type` (currency in US dollar cents, percentage as a fraction, scalar) and the range."""
    columns: list[str]
    rows: list[list[Any]]
    totals: dict[str, Any]
    notice: str | None = Field(default=None, json_schema_extra=sample_notice)


async def get_metrics(
    context: ToolContext,
    metrics: Annotated[list[str] | None, Field(min_length=1, max_length=MAX_METRICS)] = None,
    start_date: date | None = None,
    end_date: date | None = None,
    interval: Interval | None = None,
    product_id: Annotated[
        list[UUID] | None,
        Field(min_length=1, max_length=MAX_PRODUCTS, description="A figure per product."),
    ] = None,
    timezone: Annotated[str | None, Field(max_length=64)] = None,
) -> Annotated[CallToolResult, MetricsAnswer]:
    """Polar's own figures per period: MRR, churn, revenue and the other dashboard metrics."""
    slugs = _checked_slugs(metrics or list(DEFAULT_METRICS))
    today = context.today()
    end = end_date or today
    start = start_date or _months_before(end, DEFAULT_MONTHS)
    step: Interval = interval or "month"
    _check_range(start, end, step)
    base = [("start_date", start.isoformat()), ("end_date", end.isoformat()), ("interval", step)]
    base += [("timezone", timezone)] if timezone else []
    base += [("metrics", slug) for slug in slugs]
    products = list(dict.fromkeys(str(p) for p in product_id or ()))
    try:
        if not products:
            answers = [("", await context.polar.metrics(base))]
        else:
            names = await _product_names(context, products)
            answers = []
            for product in products:  # Polar filters by product, it does not group: one request each
                answer = await context.polar.metrics([*base, ("product_id", product)])
                answers.append((names.get(product, product), answer))
    except ScopeError as exc:
        raise ScopeError(SCOPE_HELP, status_code=exc.status_code) from None
    result = _table(answers, slugs, step, start, end, partial=end >= today)
    if context.notice:
        result["notice"] = context.notice
    text = render_metrics(result, answers[0][1], partial=end >= today)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=result)


TOOL = Tool(
    name=NAME,
    title=TITLE,
    description=DESCRIPTION,
    handler=get_metrics,
    view=QUERY_CHART,
    argument_hints=ARGUMENT_HINTS,
    argument_aliases=ARGUMENT_ALIASES,
)


def _checked_slugs(slugs: list[str]) -> list[str]:
    """The slugs, each once; an unknown one is refused before any request, naming the closest."""
    problems = []
    for slug in slugs:
        if slug not in METRIC_SLUGS:
            close = difflib.get_close_matches(slug, METRIC_SLUGS, n=3, cutoff=0.5)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            problems.append(f"{cell(slug)[:80]!r} is not a Polar metric.{hint}")
    if problems:
        raise ToolError(
            " ".join(problems) + f" Nothing was sent to Polar; call {NAME} again with Polar's slugs."
        )
    return list(dict.fromkeys(slugs))


def _check_range(start: date, end: date, interval: Interval) -> None:
    """Polar refuses ranges too long for their interval and dates before 2023: refused here first."""
    if start < EARLIEST:
        raise ToolError(
            f"Polar has no metrics before {EARLIEST.isoformat()}: set start_date to that day or later. "
            f"Nothing was sent to Polar."
        )
    if end < start:
        raise ToolError("end_date is before start_date. Nothing was sent to Polar; swap them and call again.")
    days = (end - start).days + 1
    if days > RANGE_DAYS[interval]:
        fits = next((name for name, most in RANGE_DAYS.items() if days <= most), "year")
        raise ToolError(
            f"Polar computes at most {RANGE_DAYS[interval]:,} days by {interval}; {start} to {end} is "
            f"{days:,} days. Use interval={fits}, or a shorter range. Nothing was sent to Polar."
        )


def _months_before(day: date, months: int) -> date:
    """The first day of the month `months - 1` months before `day`'s: `months` whole periods with it."""
    total = day.year * 12 + day.month - 1 - (months - 1)
    return max(EARLIEST, date(total // 12, total % 12 + 1, 1))


async def _product_names(context: ToolContext, products: list[str]) -> dict[str, str]:
    try:
        return await context.polar.product_names(products)
    except ScopeError:
        return {}  # without products:read the figures are named by product ID


def _table(
    answers: list[tuple[str, ApiMetrics]],
    slugs: list[str],
    interval: str,
    start: date,
    end: date,
    *,
    partial: bool,
) -> dict[str, Any]:
    """One row per period, one column per metric (per product and metric with product_id)."""
    columns = ["period"]
    for product, _ in answers:
        columns += [f"{product}: {slug}" if product else slug for slug in slugs]
    periods = [_period(p.get("timestamp"), interval) for p in answers[0][1].periods]
    rows: list[list[Any]] = [[period] for period in periods]
    totals: dict[str, Any] = {}
    for product, answer in answers:
        for index, row in enumerate(rows):
            values = answer.periods[index] if index < len(answer.periods) else {}
            row += [values.get(slug) for slug in slugs]
        for slug in slugs:
            totals[f"{product}: {slug}" if product else slug] = answer.totals.get(slug)
    kinds = {slug: _kind(answers[0][1], slug) for slug in slugs}
    span = {"interval": interval, "start_date": start.isoformat(), "end_date": end.isoformat()}
    return {
        "metrics": {slug: {"type": kinds[slug], "partial_last_period": partial, **span} for slug in slugs},
        "columns": columns,
        "rows": rows,
        "totals": totals,
    }


def _period(timestamp: Any, interval: str) -> str:
    text = str(timestamp or "")
    if interval == "hour":
        return text[:16].replace("T", " ")
    if interval == "month":
        return text[:7]
    if interval == "year":
        return text[:4]
    return text[:10]


def _kind(answer: ApiMetrics, slug: str) -> str:
    metric = answer.metrics.get(slug)
    return metric.type if metric is not None else "scalar"


def render_metrics(result: dict[str, Any], first: ApiMetrics, *, partial: bool) -> str:
    """The text the model reads: what the figures are, a header, a row per period, a row of totals."""
    kinds = {slug: info["type"] for slug, info in result["metrics"].items()}
    span = next(iter(result["metrics"].values()))
    column_kinds = [kinds.get(column.rpartition(": ")[2], "scalar") for column in result["columns"][1:]]
    lines = [result["notice"]] if result.get("notice") else []
    current = f"; the last {span['interval']} is partial" if partial else ""
    lines.append(
        f"By Polar's own definitions, in US dollars, {span['start_date']} to {span['end_date']}{current}."
    )
    # The first column is named by the interval: week and day labels look alike.
    lines.append(SEPARATOR.join([span["interval"], *result["columns"][1:]]))
    for row in result["rows"]:
        values = [shown(value, kind) for value, kind in zip(row[1:], column_kinds, strict=True)]
        lines.append(SEPARATOR.join([row[0], *values]))
    if not result["rows"]:
        lines.append("(no periods)")
    totals = [
        shown(result["totals"].get(column), kind)
        for column, kind in zip(result["columns"][1:], column_kinds, strict=True)
    ]
    lines.append(SEPARATOR.join([TOTALS_LABEL, *totals]))
    return "\n".join(lines)


def shown(value: Any, kind: str) -> str:
    """`$12,340.50` for US dollar cents, `5.2%` for a fraction, `1,204` for a count; `-` for none."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    if kind in ("currency", "currency_sub_cent"):
        dollars = Decimal(str(value)) / 100
        sign = "-" if dollars < 0 else ""
        digits = 2 if kind == "currency" else 4
        return f"{sign}${abs(dollars):,.{digits}f}"
    if kind == "percentage":
        return f"{value * 100:.1f}%"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
