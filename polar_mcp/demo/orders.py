"""The sample organization's orders: one per billing period of every subscription, and one-time purchases.

Polar bills a subscription at the start of each period: the first order is `subscription_create` (a
$0 order for a trial), the next ones `subscription_cycle`. A past-due subscription's last order is
`pending`, awaiting the next payment attempt. One-time purchases are `purchase` orders. Amounts follow
Polar's order model: subtotal, minus discount, is the net amount; tax is on the net amount; the total
is net plus tax; refunds (`refunded_amount`, net of tax, and `refunded_tax_amount`) make an order
`partially_refunded` or `refunded`. Paid orders carry Polar's platform fee in US cents (`money.py`).
Invoice numbers are per customer, as Polar numbers them when an organization chooses so.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from polar_mcp.demo.catalogue import (
    Catalogue,
    CatalogueDiscount,
    CatalogueProduct,
    discount_object,
    order_product_object,
)
from polar_mcp.demo.money import platform_fee, polar_round, tax_basis_points, to_usd_cents
from polar_mcp.demo.periods import api_time, parse_api_time
from polar_mcp.demo.subscriptions import SubscriptionRecord, order_subscription_object

__all__ = [
    "INVOICE_PREFIX",
    "PAID_STATUSES",
    "BillingParty",
    "OrderRecord",
    "customer_purchases",
    "number_invoices",
    "order_object",
    "purchase_order",
    "subscription_orders",
]

INVOICE_PREFIX = "DEMO"
PAID_STATUSES = frozenset({"paid", "refunded", "partially_refunded"})
"""Orders that were paid (Polar's `Order.paid`), refunded or not."""

_REGION_PRODUCTS = {"JP": "starter_kit_japan", "GB": "workshop"}
_EU = {"DE", "FR", "ES", "PL", "SE", "GR"}


@dataclass(slots=True)
class OrderRecord:
    """One order as Polar stores it. `billing_name` and `billing_address` are the customer's at the time."""

    id: str
    customer_id: str
    product_id: str | None
    subscription_id: str | None
    created_at: datetime
    status: str
    billing_reason: str
    subtotal_amount: int
    discount_amount: int
    net_amount: int
    tax_amount: int
    currency: str
    label: str
    billing_name: str | None
    billing_address: dict[str, Any] | None
    modified_at: datetime | None = None
    refunded_amount: int = 0
    refunded_tax_amount: int = 0
    discount_id: str | None = None
    checkout_id: str | None = None
    invoice_number: str | None = None
    is_invoice_generated: bool = False
    platform_fee_amount: int = 0
    platform_fee_currency: str | None = None
    next_payment_attempt_at: datetime | None = None
    price_id: str | None = None

    @property
    def total_amount(self) -> int:
        return self.net_amount + self.tax_amount

    @property
    def paid(self) -> bool:
        return self.status in PAID_STATUSES


@dataclass(frozen=True)
class BillingParty:
    """What an order copies from its customer: billing name (Polar falls back to the name), address,
    the tax rate and the card's country (taken to be the billing country)."""

    customer_id: str
    billing_name: str | None
    billing_address: dict[str, Any] | None
    tax_basis_points: int
    country: str | None
    created_at: datetime = field(compare=False)

    @classmethod
    def of(cls, customer: dict[str, Any]) -> BillingParty:
        address = customer.get("billing_address")
        return cls(
            customer_id=customer["id"],
            billing_name=customer.get("billing_name") or customer.get("name"),
            billing_address=dict(address) if address else None,
            tax_basis_points=tax_basis_points(address, customer.get("tax_id")),
            country=address.get("country") if address else None,
            created_at=parse_api_time(customer["created_at"]),
        )


def subscription_orders(
    rng: random.Random,
    record: SubscriptionRecord,
    product: CatalogueProduct,
    party: BillingParty,
    anchor: datetime,
) -> list[OrderRecord]:
    """An order for every billing period of `record` so far, oldest first."""
    orders: list[OrderRecord] = []
    periods = list(record.billing_periods())
    discount = record.amount - record.net_amount
    for index, (start, end, trial) in enumerate(periods):
        created = min(start + timedelta(seconds=rng.randint(1, 90)), anchor - timedelta(seconds=1))
        if trial:
            subtotal = discount_amount = 0
            label = f"Trial period for {product.name} ({_day(start)} - {_day(end)})"
        else:
            subtotal, discount_amount, label = record.amount, discount, product.name
        net = subtotal - discount_amount
        order = OrderRecord(
            id=_uuid(rng),
            customer_id=record.customer_id,
            product_id=product.id,
            subscription_id=record.id,
            created_at=created,
            status="paid",
            billing_reason="subscription_create" if index == 0 else "subscription_cycle",
            subtotal_amount=subtotal,
            discount_amount=discount_amount,
            net_amount=net,
            tax_amount=polar_round(net * party.tax_basis_points / 10_000),
            currency=record.currency,
            label=label,
            billing_name=party.billing_name,
            billing_address=party.billing_address,
            discount_id=record.discount_id if discount_amount else None,
            checkout_id=record.checkout_id if index == 0 else None,
            price_id=product.price_id,
        )
        last = index == len(periods) - 1
        if last and record.status == "past_due":
            order.status = "pending"
            order.next_payment_attempt_at = anchor + timedelta(hours=rng.randint(6, 72))
        else:
            refund = (
                "full" if last and record.ended_at is not None and not record.cancel_at_period_end else None
            )
            _settle(rng, order, party, anchor, refund=refund if rng.random() < 0.5 else None)
        orders.append(order)
    return orders


def purchase_order(
    rng: random.Random,
    party: BillingParty,
    product: CatalogueProduct,
    created: datetime,
    anchor: datetime,
    discount: CatalogueDiscount | None = None,
) -> OrderRecord:
    """A one-time purchase of `product` at `created`, paid (and perhaps refunded since)."""
    spec = product.spec
    off = discount.spec.amount_off(spec.amount, spec.currency) if discount is not None else 0
    net = spec.amount - off
    order = OrderRecord(
        id=_uuid(rng),
        customer_id=party.customer_id,
        product_id=product.id,
        subscription_id=None,
        created_at=created,
        status="paid",
        billing_reason="purchase",
        subtotal_amount=spec.amount,
        discount_amount=off,
        net_amount=net,
        tax_amount=polar_round(net * party.tax_basis_points / 10_000),
        currency=spec.currency,
        label=product.name,
        billing_name=party.billing_name,
        billing_address=party.billing_address,
        discount_id=discount.id if discount is not None and off else None,
        checkout_id=_uuid(rng),
        price_id=product.price_id,
    )
    _settle(rng, order, party, anchor)
    return order


def customer_purchases(
    rng: random.Random, party: BillingParty, catalogue: Catalogue, anchor: datetime
) -> list[OrderRecord]:
    """The demo rule: a third of customers buy one to three one-time products over their lifetime."""
    roll = rng.random()
    count = 0 if roll < 0.65 else 1 if roll < 0.85 else 2 if roll < 0.95 else 3
    return [
        purchase_order(
            rng,
            party,
            pick_one_time_product(rng, catalogue, party.country),
            purchase_time(rng, party.created_at, anchor),
            anchor,
            pick_purchase_discount(rng, catalogue),
        )
        for _ in range(count)
    ]


def pick_one_time_product(rng: random.Random, catalogue: Catalogue, country: str | None) -> CatalogueProduct:
    """A one-time product a customer from `country` would buy: one priced locally half the time."""
    products = catalogue.by_key
    if rng.random() < 0.5:
        if country in _REGION_PRODUCTS:
            return products[_REGION_PRODUCTS[country]]
        if country in _EU:
            return products["icon_set"]
    return products["lifetime" if rng.random() < 0.3 else "template_pack"]


def pick_purchase_discount(rng: random.Random, catalogue: Catalogue) -> CatalogueDiscount | None:
    """A once-only discount for one purchase in seven."""
    if rng.random() >= 0.15:
        return None
    return catalogue.discount_by_key["welcome5" if rng.random() < 0.5 else "spring10"]


def purchase_time(rng: random.Random, signup: datetime, anchor: datetime) -> datetime:
    """A moment between signup and the anchor (in the month before it for a signup after it)."""
    latest = anchor - timedelta(hours=1)
    if signup >= latest:
        return anchor - timedelta(days=rng.uniform(1, 30))
    return signup + (latest - signup) * rng.random()


def number_invoices(orders: list[OrderRecord], customer_id: str) -> None:
    """Sort one customer's orders by creation and give each its invoice number, in place."""
    orders.sort(key=lambda order: (order.created_at, order.id))
    short = _base26(int(customer_id.replace("-", "")[:10], 16))
    for index, order in enumerate(orders, start=1):
        order.invoice_number = f"{INVOICE_PREFIX}-{short}-{index:04d}"


def _settle(
    rng: random.Random, order: OrderRecord, party: BillingParty, anchor: datetime, refund: str | None = None
) -> None:
    """Paid: the platform fee on the settled total; then, for some, a refund in the following weeks."""
    if order.total_amount > 0:
        settled = to_usd_cents(order.net_amount, order.currency) + to_usd_cents(
            order.tax_amount, order.currency
        )
        order.platform_fee_amount = platform_fee(settled, party.country)
        order.platform_fee_currency = "usd"
        order.is_invoice_generated = rng.random() < 0.3
    if order.net_amount <= 0 or order.created_at > anchor - timedelta(days=2):
        return
    roll = rng.random()
    if refund is None and roll >= 0.05:
        return
    refunded_at = min(order.created_at + timedelta(days=rng.uniform(0.5, 20)), anchor - timedelta(hours=1))
    if refund == "full" or roll < 0.02:
        order.status = "refunded"
        order.refunded_amount, order.refunded_tax_amount = order.net_amount, order.tax_amount
    else:
        share = rng.uniform(0.1, 0.6)
        order.status = "partially_refunded"
        order.refunded_amount = polar_round(order.net_amount * share)
        order.refunded_tax_amount = polar_round(order.tax_amount * share)
    order.modified_at = refunded_at


def order_object(
    order: OrderRecord,
    customer: dict[str, Any],
    catalogue: Catalogue,
    subscription: SubscriptionRecord | None,
    *,
    redemptions: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The order as `GET /v1/orders/` returns it (Polar's `Order` schema)."""
    product = catalogue.by_id.get(order.product_id) if order.product_id else None
    discount = catalogue.discount_by_id.get(order.discount_id) if order.discount_id else None
    organization_id = catalogue.organization_id
    refundable = max(0, order.net_amount - order.refunded_amount)
    return {
        "id": order.id,
        "created_at": api_time(order.created_at),
        "modified_at": api_time(order.modified_at) if order.modified_at else None,
        "status": order.status,
        "paid": order.paid,
        "subtotal_amount": order.subtotal_amount,
        "discount_amount": order.discount_amount,
        "net_amount": order.net_amount,
        "tax_amount": order.tax_amount,
        "total_amount": order.total_amount,
        "applied_balance_amount": 0,
        "due_amount": max(0, order.total_amount),
        "refunded_amount": order.refunded_amount,
        "refunded_tax_amount": order.refunded_tax_amount,
        "currency": order.currency,
        "billing_reason": order.billing_reason,
        "billing_name": order.billing_name,
        "billing_address": order.billing_address,
        "invoice_number": order.invoice_number,
        "is_invoice_generated": order.is_invoice_generated,
        "receipt_number": None,
        "seats": None,
        "customer_id": order.customer_id,
        "product_id": order.product_id,
        "discount_id": order.discount_id,
        "subscription_id": order.subscription_id,
        "checkout_id": order.checkout_id,
        "next_payment_attempt_at": api_time(order.next_payment_attempt_at)
        if order.next_payment_attempt_at
        else None,
        "metadata": {},
        "custom_field_data": {},
        "platform_fee_amount": order.platform_fee_amount,
        "platform_fee_currency": order.platform_fee_currency,
        "customer": customer,
        "product": order_product_object(product, organization_id) if product else None,
        "discount": None
        if discount is None
        else discount_object(discount, organization_id, (redemptions or {}).get(discount.id, 0)),
        "subscription": order_subscription_object(subscription) if subscription is not None else None,
        "items": [
            {
                "created_at": api_time(order.created_at),
                "modified_at": None,
                "id": str(uuid.UUID(int=int(order.id.replace("-", ""), 16) ^ 1)),
                "label": order.label,
                "amount": order.subtotal_amount,
                "tax_amount": order.tax_amount,
                "proration": False,
                "product_price_id": order.price_id,
            }
        ],
        "description": product.name if product else order.label,
        "refundable_amount": refundable,
        "refundable_tax_amount": max(0, order.tax_amount - order.refunded_tax_amount),
    }


def _day(moment: datetime) -> str:
    return f"{moment:%b} {moment.day}, {moment.year}"


def _base26(number: int) -> str:
    letters = ""
    while number > 0:
        number, rest = divmod(number, 26)
        letters = chr(ord("A") + rest) + letters
    return letters.rjust(8, "A")[-8:]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
