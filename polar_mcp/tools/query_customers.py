"""The `query_customers` tool: one read-only SQL statement over snapshots of the customers, subscriptions,
orders and products of the organization, each table loaded when a statement first reads it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any
from uuid import UUID

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from polar_mcp.sanitize import clean
from polar_mcp.snapshots.sql import MAX_ROWS, MAX_SQL_CHARS, QueryResult
from polar_mcp.snapshots.store import Snapshot, TableState
from polar_mcp.snapshots.tables import BILLING_TABLES, TABLE_NAMES
from polar_mcp.tools.base import Tool, ToolContext
from polar_mcp.tools.render import cell
from polar_mcp.tools.schema import sample_notice
from polar_mcp.views import QUERY_CHART

__all__ = ["NAME", "TOOL", "QueryAnswer", "query_customers", "render_answer", "shown_value"]

NAME = "query_customers"
TITLE = "Customers and billing in SQL"
MAX_CELL_CHARS = 200
"""Longer values are cut, with a marker saying how much was left out."""
MAX_TEXT_CHARS = 60_000
"""Rows stop being added once the text reaches this size; the truncation line says what is left."""
SEPARATOR = "\t"
# Of a long value, only this much is cleaned: cleaning drops invisible characters, so somewhat more than
# is shown, and a value whose start cleans to nothing is shown cut, not searched to its end.
_CLEANED_CHARS = MAX_CELL_CHARS * 4

DESCRIPTION = f"""Read-only SQLite SELECT over snapshots of the organization's customers, subscriptions, \
orders and products.
customers: id, external_id, created_at, email, email_domain, name, tax_id, address_line1, address_line2, \
city, state, postal_code, country, metadata (JSON).
subscriptions: customer_id, email, customer_name, product_id, product, status, amount, net_amount, currency, \
recurring_interval (day/week/month/year), interval_count, seats, discount, started_at, current_period_start, \
current_period_end, trial_start, trial_end, cancel_at_period_end (0/1), canceled_at, ends_at, ended_at, \
cancellation_reason, billing_country.
orders: customer_id, email, customer_name, billing_name, product_id, product, created_at, status, \
billing_reason, subtotal_amount, discount_amount, tax_amount, total_amount, net_amount, refunded_amount, \
currency, invoice_number, billing_country.
products: id, name, recurring_interval, interval_count, is_archived (0/1), created_at, prices (JSON).
Amounts in minor units (cents; yen for jpy); times ISO UTC; every status kept. customer_id and \
product_id are NULL where no single customer has the email or product the name. Max {MAX_ROWS} rows."""

ARGUMENT_HINTS: dict[str, str] = {
    "sql": f"one SELECT or WITH ... SELECT statement on the snapshot's tables, at most {MAX_SQL_CHARS:,} "
    "characters",
    "refresh": "true or false",
    "organization_id": "a UUID such as 1dbfc517-0bbf-4301-9ba8-555ca42b9737",
}
ARGUMENT_ALIASES: dict[str, str] = {
    "query": "put the SQL statement in sql",
    "statement": "put the SQL statement in sql",
    "limit": "write LIMIT in the SQL statement",
    "offset": "write LIMIT ... OFFSET ... in the SQL statement",
}


# Lean on purpose: every tools/list carries this schema, so the objects are documented here, in words.
# `row_count` counts every row of the answer, `rows` holds the first ones (`truncated` when fewer).
# `snapshot`: the customers table's `taken_at` (ISO 8601 UTC) and `customers` (its rows), as answers
# read before there were other tables; `tables`: per table read, its `rows` and `taken_at`, and how many
# rows have no `customer_id` or `product_id`.
class QueryAnswer(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    snapshot: dict[str, Any]
    tables: dict[str, Any]
    notice: str | None = Field(default=None, json_schema_extra=sample_notice)


async def query_customers(
    context: ToolContext,
    ctx: Context[Any, Any],
    sql: Annotated[
        str,
        Field(max_length=MAX_SQL_CHARS, description="One SELECT or WITH ... SELECT."),
    ],
    refresh: Annotated[bool, Field(description="Take a new snapshot.")] = False,
    organization_id: Annotated[UUID | None, Field(description="One organization.")] = None,
) -> Annotated[CallToolResult, QueryAnswer]:
    """Run one read-only SQL statement over snapshots of the tables it reads."""
    store = context.snapshots
    organizations = [str(organization_id)] if organization_id else []
    snapshot = await store.get(organizations, tables=())
    # Only the tables the statement reads are loaded; one that reads none still shows the customers'.
    read = sorted(await snapshot.tables_read(sql), key=TABLE_NAMES.index) or ["customers"]

    async def loading(table: str, rows: int) -> None:
        await ctx.report_progress(rows, None, f"Loading {table} from Polar: {rows:,} rows")

    snapshot = await store.get(organizations, refresh=refresh, tables=read, progress=loading)
    result = await snapshot.query(
        sql, time_limit=store.time_limit, shape=shown_value, max_answer_chars=MAX_TEXT_CHARS
    )
    answer, text = render_answer(result, snapshot, now=store.clock(), notice=context.notice, read=read)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=answer)


TOOL = Tool(
    name=NAME,
    title=TITLE,
    description=DESCRIPTION,
    handler=query_customers,
    view=QUERY_CHART,
    argument_hints=ARGUMENT_HINTS,
    argument_aliases=ARGUMENT_ALIASES,
)


def render_answer(
    result: QueryResult,
    snapshot: Snapshot,
    *,
    now: float,
    notice: str | None = None,
    read: Sequence[str] = ("customers",),
) -> tuple[dict[str, Any], str]:
    """The structured answer and the text the model reads: snapshot line, header, rows, truncation line.
    The rows' values are already as shown (`shown_value`, applied in the worker thread as they were
    fetched), so this only joins them, within `MAX_TEXT_CHARS`."""
    lines = [notice] if notice else []
    lines.append(snapshot_line(snapshot, now, read))
    for table in read:
        if table in snapshot.tables and (problems := snapshot.tables[table].stats.problems()):
            lines.append(problems if table == "customers" else f"{table}: {problems}")
    lines.append(SEPARATOR.join(cell(clean(name)) for name in result.columns))
    size = sum(len(line) + 1 for line in lines)
    rows: list[list[Any]] = []
    for shown in result.rows:
        row = list(shown)
        line = SEPARATOR.join("NULL" if value is None else str(value) for value in row)
        if size + len(line) > MAX_TEXT_CHARS and rows:
            break
        rows.append(row)
        lines.append(line)
        size += len(line) + 1
    if not rows:
        lines.append("(no rows)")
    if result.row_count > len(rows):
        lines.append(_truncation_line(len(rows), result.row_count, result.counted))
    answer: dict[str, Any] = {
        "columns": result.columns,
        "rows": rows,
        "row_count": result.row_count,
        "truncated": result.row_count > len(rows),
        "snapshot": {
            "taken_at": snapshot.taken_at_utc.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "customers": snapshot.customers,
        },
        "tables": {table: _table_info(snapshot.tables[table]) for table in read if table in snapshot.tables},
    }
    if notice:
        answer["notice"] = notice
    return answer, "\n".join(lines)


def snapshot_line(snapshot: Snapshot, now: float, read: Sequence[str] = ("customers",)) -> str:
    """`Snapshot of 48,210 customers taken 3 minutes ago (14:02 UTC).`, with each billing table read:
    `; 20,114 subscriptions taken just now (14:05 UTC), 12 without customer_id`."""
    parts = []
    for table in read:
        state = snapshot.tables.get(table)
        if state is None:
            continue
        noun = table if state.rows != 1 else table.removesuffix("s")
        at = state.taken_at_utc.strftime("%H:%M UTC")
        part = f"{state.rows:,} {noun} taken {_age(now - state.taken_at)} ({at})"
        unlinked = [
            f"{count:,} without {column}"
            for count, column in (
                (state.without_customer, "customer_id"),
                (state.without_product, "product_id"),
            )
            if table in BILLING_TABLES and count
        ]
        parts.append(", ".join([part, *unlinked]))
    return f"Snapshot of {'; '.join(parts)}."


def _table_info(state: TableState) -> dict[str, Any]:
    info: dict[str, Any] = {
        "rows": state.rows,
        "taken_at": state.taken_at_utc.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    if state.without_customer or state.without_product:
        info |= {"without_customer_id": state.without_customer, "without_product_id": state.without_product}
    return info


def _age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds >= size:
            count = math.floor(seconds / size)
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    count = math.floor(seconds)
    return "just now" if count < 1 else f"{count} second{'' if count == 1 else 's'} ago"


def _truncation_line(shown: int, total: int, counted: bool) -> str:
    of = f"{total:,}" if counted else f"more than {total:,}"
    return (
        f"Showing the first {shown:,} of {of} rows. Aggregate (GROUP BY, COUNT) to see everything at once, "
        f"or add LIMIT {shown} OFFSET {shown} to the statement for the next rows."
    )


def shown_value(value: Any) -> Any:
    """A cell as the model may read it: text cleaned, on one line, and cut when long. Only the start that
    can be shown is cleaned, so a huge value costs no more than a short one."""
    if isinstance(value, bytes):
        return f"<{len(value):,}-byte blob>"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if not isinstance(value, str):
        return value
    head = value[:_CLEANED_CHARS]
    text = cell(clean(head))
    unread = len(value) - len(head)
    if len(text) <= MAX_CELL_CHARS and not unread:
        return text
    cut = len(text) - min(len(text), MAX_CELL_CHARS) + unread
    return f"{text[:MAX_CELL_CHARS]}…[cut {cut:,} chars]"
