"""Polar's subscription and order exports (CSV) read as they stream, into the rows of the `subscriptions`
and `orders` tables.

The files are written by Polar's `server/polar/subscription/export.py` and `server/polar/order/export.py`:
every column asked for with `columns=`, in that order; amounts as Polar's integer minor units divided by
100, as a float, also for zero-decimal currencies (so `30.0` is 3000 yen); timestamps by `isoformat()`;
booleans `true`/`false`; the interval `month`, or `3 months` when the count is above one. Neither file
carries an ID: rows are linked to customers and products later, by email and by name. Rows are read as
leniently as the customer export: a value that cannot be read becomes NULL, a row that cannot be read is
counted and left out.
"""

from __future__ import annotations

import math
from typing import ClassVar, NamedTuple

from polar_mcp.polar.export import TableParser, utc_text

__all__ = [
    "ORDER_COLUMNS",
    "ORDER_EXPORT_COLUMNS",
    "SUBSCRIPTION_COLUMNS",
    "SUBSCRIPTION_EXPORT_COLUMNS",
    "ExportedOrder",
    "ExportedSubscription",
    "OrderParser",
    "SubscriptionParser",
    "minor_units",
]


class ExportedSubscription(NamedTuple):
    """One subscription, normalised: the columns of the `subscriptions` table, in its order."""

    customer_id: str | None
    email: str | None
    customer_name: str | None
    product_id: str | None
    product: str | None
    status: str | None
    amount: int | None
    net_amount: int | None
    currency: str | None
    recurring_interval: str | None
    interval_count: int | None
    seats: int | None
    discount: str | None
    started_at: str | None
    current_period_start: str | None
    current_period_end: str | None
    trial_start: str | None
    trial_end: str | None
    cancel_at_period_end: int | None
    canceled_at: str | None
    ends_at: str | None
    ended_at: str | None
    cancellation_reason: str | None
    billing_country: str | None


class ExportedOrder(NamedTuple):
    """One order, normalised: the columns of the `orders` table, in its order."""

    customer_id: str | None
    email: str | None
    customer_name: str | None
    billing_name: str | None
    product_id: str | None
    product: str | None
    created_at: str | None
    status: str | None
    billing_reason: str | None
    subtotal_amount: int | None
    discount_amount: int | None
    tax_amount: int | None
    total_amount: int | None
    net_amount: int | None
    refunded_amount: int | None
    currency: str | None
    invoice_number: str | None
    billing_country: str | None


SUBSCRIPTION_COLUMNS: tuple[str, ...] = ExportedSubscription._fields
ORDER_COLUMNS: tuple[str, ...] = ExportedOrder._fields

# What `columns=` asks for (Polar's column names) and the header each is written under.
_SUBSCRIPTION_HEADERS = {
    "email": "Email",
    "started_at": "Started At",
    "product": "Product",
    "amount": "Amount",
    "currency": "Currency",
    "status": "Status",
    "recurring_interval": "Billing Interval",
    "customer_name": "Customer Name",
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
_ORDER_HEADERS = {
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
SUBSCRIPTION_EXPORT_COLUMNS: tuple[str, ...] = tuple(_SUBSCRIPTION_HEADERS)
ORDER_EXPORT_COLUMNS: tuple[str, ...] = tuple(_ORDER_HEADERS)
_INTERVALS = ("day", "week", "month", "year")


def minor_units(text: str | None) -> int | None:
    """Polar's integer back from the float it wrote (`20.0` is 2000, `4.99` is 499); None if unreadable."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return round(value * 100) if math.isfinite(value) and abs(value) < 1e13 else None


def _interval(text: str | None) -> tuple[str | None, int | None]:
    """`month` is (month, 1); `3 months` is (month, 3); anything else is unknown."""
    if text is None:
        return None, None
    count, _, unit = text.strip().lower().rpartition(" ")
    unit = unit[:-1] if unit.endswith("s") and count else unit
    if unit not in _INTERVALS:
        return None, None
    if not count:
        return unit, 1
    return (unit, int(count)) if count.isdigit() and 0 < int(count) < 1000 else (None, None)


def _integer(text: str | None) -> int | None:
    return int(text) if text is not None and text.strip().isdigit() and len(text) < 10 else None


def _flag(text: str | None) -> int | None:
    return {"true": 1, "false": 0}.get((text or "").strip().lower())


def _email(text: str | None) -> str | None:
    return text.strip() or None if text else None


class SubscriptionParser(TableParser[ExportedSubscription]):
    """Polar's subscription export, read into the rows of the `subscriptions` table."""

    header_fields: ClassVar[dict[str, str]] = {h.lower(): c for c, h in _SUBSCRIPTION_HEADERS.items()}
    required = ("status", "started_at")
    sources = SUBSCRIPTION_EXPORT_COLUMNS
    header_hint = "Email, Started At, Product"

    def _row(self, fields: list[str]) -> ExportedSubscription | None:
        (email, started, product, amount, currency, status, interval, customer_name, country, net_amount,
         discount, seats, period_start, period_end, cancels, canceled_at, ends_at, ended_at, reason,
         trial_start, trial_end) = self._values(fields)  # fmt: skip
        if status is None:
            return None
        unit, count = _interval(interval)
        return ExportedSubscription(
            None,
            _email(email),
            customer_name,
            None,
            product,
            status.strip().lower(),
            minor_units(amount),
            minor_units(net_amount),
            currency.strip().lower() if currency else None,
            unit,
            count,
            _integer(seats),
            discount,
            utc_text(started),
            utc_text(period_start),
            utc_text(period_end),
            utc_text(trial_start),
            utc_text(trial_end),
            _flag(cancels),
            utc_text(canceled_at),
            utc_text(ends_at),
            utc_text(ended_at),
            reason,
            country,
        )


class OrderParser(TableParser[ExportedOrder]):
    """Polar's order export, read into the rows of the `orders` table."""

    header_fields: ClassVar[dict[str, str]] = {h.lower(): c for c, h in _ORDER_HEADERS.items()}
    required = ("status", "created_at")
    sources = ORDER_EXPORT_COLUMNS
    header_hint = "Email, Created At, Product"

    def _row(self, fields: list[str]) -> ExportedOrder | None:
        (email, created, product, net_amount, currency, status, invoice, customer_name, billing_name,
         country, subtotal, discount, tax, total, refunded, reason) = self._values(fields)  # fmt: skip
        created_at = utc_text(created)
        if status is None or created_at is None:
            return None
        return ExportedOrder(
            None,
            _email(email),
            customer_name,
            billing_name,
            None,
            product,
            created_at,
            status.strip().lower(),
            reason,
            minor_units(subtotal),
            minor_units(discount),
            minor_units(tax),
            minor_units(total),
            minor_units(net_amount),
            minor_units(refunded),
            currency.strip().lower() if currency else None,
            invoice,
            country,
        )
