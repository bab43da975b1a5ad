"""The fake Polar's `GET /v1/subscriptions/export` and `GET /v1/orders/export`, as Polar's code writes them.

Followed line by line from Polar's `server/polar/subscription/export.py` and `order/export.py`: Python's
`csv` writer (`excel` dialect, CRLF), a header row of the chosen `columns=` in the order given (without
them, Polar's default set), then one row per subscription (newest start first; never-started ones are
not exported) or per order (newest first). Amounts are Polar's integer divided by 100 as a float, for
yen too; timestamps `isoformat()` in the `timezone` parameter; booleans `true`/`false`; the billing
interval `month`, or `3 months` when the count is above 1. No ID of any kind is written: a row names its
customer by current email and its product by name (an order by its description, the product's name).
The body is one streamed response, built, as Polar builds it, from the whole filtered list.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx

from polar_mcp.demo.fake_params import (
    Params,
    boolean,
    enum_list,
    iana_timezone,
    timezone_aware,
    unexpected,
    uuid4_list,
    validation_error,
)
from polar_mcp.demo.ledger import SampleBilling
from polar_mcp.demo.orders import OrderRecord
from polar_mcp.demo.subscriptions import SubscriptionRecord

__all__ = [
    "EXPORT_LIMIT",
    "ORDERS_EXPORT_PATH",
    "ORDER_COLUMNS",
    "ORDER_DEFAULT_COLUMNS",
    "ORDER_SCOPES",
    "ORDER_STATUSES",
    "SUBSCRIPTIONS_EXPORT_PATH",
    "SUBSCRIPTION_COLUMNS",
    "SUBSCRIPTION_DEFAULT_COLUMNS",
    "SUBSCRIPTION_SCOPES",
    "SUBSCRIPTION_STATUSES",
    "BillingData",
    "CSVStream",
    "Respond",
    "order_row",
    "orders_export",
    "subscription_row",
    "subscriptions_export",
]

SUBSCRIPTIONS_EXPORT_PATH = "/v1/subscriptions/export"
ORDERS_EXPORT_PATH = "/v1/orders/export"
SUBSCRIPTION_SCOPES = frozenset({"subscriptions:read", "subscriptions:write"})
ORDER_SCOPES = frozenset({"orders:read"})
EXPORT_LIMIT = 1_000_000
"""Polar lists at most this many rows (`PaginationParams(limit=1000000, page=1)`)."""

SUBSCRIPTION_COLUMNS: dict[str, str] = {
    "email": "Email",
    "started_at": "Started At",
    "product": "Product",
    "amount": "Amount",
    "currency": "Currency",
    "status": "Status",
    "recurring_interval": "Billing Interval",
    "customer_name": "Customer Name",
    "billing_name": "Billing Name",
    "billing_country": "Billing Country",
    "net_amount": "Net Amount",
    "discount": "Discount",
    "seats": "Seats",
    "current_period_start": "Current Period Start",
    "current_period_end": "Current Period End",
    "cancel_at_period_end": "Cancels At Period End",
    "canceled_at": "Canceled At",
    "ends_at": "Ends At",
    "ended_at": "Ended At",
    "cancellation_reason": "Cancellation Reason",
    "trial_start": "Trial Start",
    "trial_end": "Trial End",
}
"""Every `columns=` value of the subscriptions export, with its header, in Polar's enum order."""
SUBSCRIPTION_DEFAULT_COLUMNS = (
    "email",
    "started_at",
    "product",
    "amount",
    "currency",
    "status",
    "recurring_interval",
)
SUBSCRIPTION_STATUSES = (
    "incomplete",
    "incomplete_expired",
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "paused",
)

ORDER_COLUMNS: dict[str, str] = {
    "email": "Email",
    "created_at": "Created At",
    "product": "Product",
    "net_amount": "Net Amount",
    "currency": "Currency",
    "status": "Status",
    "invoice_number": "Invoice number",
    "customer_name": "Customer Name",
    "billing_name": "Billing Name",
    "billing_country": "Billing Country",
    "subtotal_amount": "Subtotal",
    "discount_amount": "Discount",
    "tax_amount": "Tax",
    "total_amount": "Total",
    "refunded_amount": "Refunded Amount",
    "billing_reason": "Billing Reason",
}
"""Every `columns=` value of the orders export, with its header, in Polar's enum order."""
ORDER_DEFAULT_COLUMNS = (
    "email",
    "created_at",
    "product",
    "net_amount",
    "currency",
    "status",
    "invoice_number",
)
ORDER_STATUSES = ("draft", "pending", "paid", "refunded", "partially_refunded", "void")

_SUBSCRIPTION_PARAMETERS = {
    "organization_id",
    "product_id",
    "status",
    "cancel_at_period_end",
    "started_after",
    "started_before",
    "timezone",
    "columns",
}
_ORDER_PARAMETERS = {
    "organization_id",
    "product_id",
    "status",
    "created_after",
    "created_before",
    "timezone",
    "columns",
}
_CHUNK = 64 * 1024

Respond = Callable[[int, dict[str, Any]], httpx.Response]
"""How the fake answers with a JSON body: `FakePolar`'s response builder."""


class BillingData(Protocol):
    """What the billing endpoints serve: the customer list (current emails and names) and the billing."""

    customers: list[dict[str, Any]]

    @property
    def billing(self) -> SampleBilling: ...


class CSVStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A CSV body written row by row as it is read, by a sync or an async client alike."""

    def __init__(self, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        self._header = header
        self._rows = rows

    def __iter__(self) -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, dialect="excel")
        writer.writerow(self._header)
        for row in self._rows:
            writer.writerow(row)
            if buffer.tell() >= _CHUNK:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue().encode()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk


def _time(value: datetime | None, tz: ZoneInfo) -> str | None:
    return value.astimezone(tz).isoformat() if value is not None else None


def _interval(record: SubscriptionRecord) -> str:
    if record.recurring_interval_count == 1:
        return record.recurring_interval
    return f"{record.recurring_interval_count} {record.recurring_interval}s"


def subscription_row(
    record: SubscriptionRecord, customer: dict[str, Any], billing: SampleBilling, tz: ZoneInfo
) -> dict[str, str | float | int | None]:
    """Every column of one subscription's row, as Polar's `_row` writes it."""
    product = billing.catalogue.by_id[record.product_id]
    discount = billing.catalogue.discount_by_id.get(record.discount_id) if record.discount_id else None
    address = customer.get("billing_address")
    return {
        "email": customer.get("email"),
        "started_at": _time(record.started_at, tz),
        "product": product.name,
        "amount": record.amount / 100,
        "currency": record.currency,
        "status": record.status,
        "recurring_interval": _interval(record),
        "customer_name": customer.get("name"),
        # Polar's `Customer.billing_name` falls back to the name.
        "billing_name": customer.get("billing_name") or customer.get("name"),
        "billing_country": address.get("country") if address else None,
        "net_amount": record.net_amount / 100,
        "discount": (discount.spec.code or discount.spec.name) if discount else None,
        "seats": record.seats,
        "current_period_start": _time(record.current_period_start, tz),
        "current_period_end": _time(record.current_period_end, tz),
        "cancel_at_period_end": "true" if record.cancel_at_period_end else "false",
        "canceled_at": _time(record.canceled_at, tz),
        "ends_at": _time(record.ends_at, tz),
        "ended_at": _time(record.ended_at, tz),
        "cancellation_reason": record.customer_cancellation_reason,
        "trial_start": _time(record.trial_start, tz),
        "trial_end": _time(record.trial_end, tz),
    }


def order_row(
    order: OrderRecord, customer: dict[str, Any], billing: SampleBilling, tz: ZoneInfo
) -> dict[str, str | float | None]:
    """Every column of one order's row, as Polar's `_row` writes it."""
    product = billing.catalogue.by_id.get(order.product_id) if order.product_id else None
    address = order.billing_address
    return {
        "email": customer.get("email"),
        "created_at": order.created_at.astimezone(tz).isoformat(),
        "product": product.name if product else order.label,
        "net_amount": order.net_amount / 100,
        "currency": order.currency,
        "status": order.status,
        "invoice_number": order.invoice_number,
        "customer_name": customer.get("name"),
        "billing_name": order.billing_name,
        "billing_country": address.get("country") if address else None,
        "subtotal_amount": order.subtotal_amount / 100,
        "discount_amount": order.discount_amount / 100,
        "tax_amount": order.tax_amount / 100,
        "total_amount": order.total_amount / 100,
        "refunded_amount": order.refunded_amount / 100,
        "billing_reason": order.billing_reason,
    }


def _common(
    params: Params, allowed: set[str], columns: Sequence[str], strict: bool
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], dict[str, Any]]:
    """Strictness, then the parameters both exports share: a 400 body, the problems, the values."""
    for name, _ in params:
        if strict and name not in allowed:
            return unexpected(name), [], {}
    problems: list[dict[str, Any]] = []
    values = {
        "organization_id": uuid4_list(params, "organization_id", problems),
        "product_id": uuid4_list(params, "product_id", problems),
        "timezone": iana_timezone(params, "timezone", problems),
        "columns": enum_list(params, "columns", list(columns), problems),
    }
    return None, problems, values


def _response(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> httpx.Response:
    return httpx.Response(
        200,
        headers={
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": f'attachment; filename="{filename}"',
        },
        stream=CSVStream(header, rows),
    )


def _filename(stem: str, bounds: Sequence[datetime | None], tz: ZoneInfo) -> str:
    for bound in bounds:
        if bound is not None:
            stem += f"-{bound.astimezone(tz).strftime('%Y-%m-%d')}"
    return f"{stem}.csv"


def _visible_customers(
    data: BillingData, organization_id: str, wanted: list[str] | None
) -> dict[str, dict[str, Any]]:
    found = {c["id"]: c for c in data.customers if c["organization_id"] == organization_id}
    if wanted is not None:
        found = {k: c for k, c in found.items() if c["organization_id"].lower() in wanted}
    return found


def subscriptions_export(
    data: BillingData, organization_id: str, params: Params, strict: bool, respond: Respond
) -> httpx.Response:
    """Answer an authenticated `GET /v1/subscriptions/export` for the token's organization."""
    refused, problems, values = _common(params, _SUBSCRIPTION_PARAMETERS, list(SUBSCRIPTION_COLUMNS), strict)
    if refused is not None:
        return respond(400, refused)
    statuses = enum_list(params, "status", SUBSCRIPTION_STATUSES, problems)
    cancel_at_period_end = boolean(params, "cancel_at_period_end", problems)
    started_after = timezone_aware(params, "started_after", problems)
    started_before = timezone_aware(params, "started_before", problems)
    if problems:
        return respond(422, validation_error(problems))
    tz: ZoneInfo = values["timezone"]
    columns: list[str] = values["columns"] or list(SUBSCRIPTION_DEFAULT_COLUMNS)
    billing = data.billing
    customers = _visible_customers(data, organization_id, values["organization_id"])
    products = set(values["product_id"]) if values["product_id"] is not None else None
    chosen = [
        record
        for record in billing.subscriptions
        if record.started_at is not None
        and record.customer_id in customers
        and (products is None or record.product_id in products)
        and (statuses is None or record.status in statuses)
        and (cancel_at_period_end is None or record.cancel_at_period_end is cancel_at_period_end)
        and (started_after is None or record.started_at > started_after)
        and (started_before is None or record.started_at < started_before)
    ]
    chosen.sort(key=lambda r: r.id)
    chosen.sort(key=lambda r: r.started_at or datetime.min, reverse=True)
    chosen = chosen[:EXPORT_LIMIT]

    def rows() -> Iterator[list[Any]]:
        for record in chosen:
            row = subscription_row(record, customers[record.customer_id], billing, tz)
            yield [row[column] for column in columns]

    header = [SUBSCRIPTION_COLUMNS[column] for column in columns]
    return _response(header, rows(), _filename("polar-subscriptions", (started_after, started_before), tz))


def orders_export(
    data: BillingData, organization_id: str, params: Params, strict: bool, respond: Respond
) -> httpx.Response:
    """Answer an authenticated `GET /v1/orders/export` for the token's organization."""
    refused, problems, values = _common(params, _ORDER_PARAMETERS, list(ORDER_COLUMNS), strict)
    if refused is not None:
        return respond(400, refused)
    statuses = enum_list(params, "status", ORDER_STATUSES, problems)
    created_after = timezone_aware(params, "created_after", problems)
    created_before = timezone_aware(params, "created_before", problems)
    if problems:
        return respond(422, validation_error(problems))
    tz: ZoneInfo = values["timezone"]
    columns: list[str] = values["columns"] or list(ORDER_DEFAULT_COLUMNS)
    billing = data.billing
    customers = _visible_customers(data, organization_id, values["organization_id"])
    products = set(values["product_id"]) if values["product_id"] is not None else None
    chosen = [
        order
        for order in billing.orders
        if order.customer_id in customers
        and (products is None or order.product_id in products)
        and (statuses is None or order.status in statuses)
        and (created_after is None or order.created_at > created_after)
        and (created_before is None or order.created_at < created_before)
    ]
    chosen.sort(key=lambda o: o.id)
    chosen.sort(key=lambda o: o.created_at, reverse=True)
    chosen = chosen[:EXPORT_LIMIT]

    def rows() -> Iterator[list[Any]]:
        for order in chosen:
            row = order_row(order, customers[order.customer_id], billing, tz)
            yield [row[column] for column in columns]

    header = [ORDER_COLUMNS[column] for column in columns]
    return _response(header, rows(), _filename("polar-orders", (created_after, created_before), tz))
