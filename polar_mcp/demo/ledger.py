"""The sample organization's whole billing: products, subscriptions and orders that agree with each other.

`sample_billing(customers, as_of)` is the demo organization's billing, derived customer by customer
(so any customer's part is the same whatever the list around it), placed relative to `as_of`'s date.
With `subscriptions=` or `orders=` it generates a benchmark organization of exactly that many instead:
50,000 customers, 20,000 subscriptions, 200,000 orders and 40 products take a few seconds.

The records (`SubscriptionRecord`, `OrderRecord`) are the ground truth the fake Polar serves, exports
and computes metrics from; `api_subscriptions`, `api_orders` and `SampleBilling.products` render them
as Polar's API objects, for tests and benchmarks that compute expected answers.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from polar_mcp.demo.catalogue import Catalogue, catalogue, product_object
from polar_mcp.demo.orders import (
    BillingParty,
    OrderRecord,
    customer_purchases,
    number_invoices,
    order_object,
    pick_one_time_product,
    pick_purchase_discount,
    purchase_order,
    purchase_time,
    subscription_orders,
)
from polar_mcp.demo.organization import DEMO_ORGANIZATION_ID, demo_customers
from polar_mcp.demo.periods import anchor_of, approximate_days
from polar_mcp.demo.subscriptions import (
    SubscriptionRecord,
    customer_subscriptions,
    draw_subscription,
    subscription_object,
)

__all__ = [
    "SampleBilling",
    "api_orders",
    "api_subscriptions",
    "customer_billing",
    "demo_billing",
    "sample_billing",
]

_LARGE_KINDS = ("active", "canceling", "trialing", "trial_canceling", "past_due", "ended", "ended_now")
_LARGE_WEIGHTS = (52, 6, 5, 1, 6, 22, 8)
_ORDER_HEADROOM = 0.75  # of the orders wanted, the share subscriptions should take on average


@dataclass(eq=False)
class SampleBilling:
    """One organization's billing on the day `anchor` describes (00:00 UTC of `as_of`'s date).

    `customers` is the customer list it was made from, read live: an export shows a customer's
    current email and name, as Polar's does."""

    anchor: datetime
    catalogue: Catalogue
    customers: Sequence[dict[str, Any]]
    subscriptions: list[SubscriptionRecord]
    orders: list[OrderRecord]
    _by_id: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _subscription_index: dict[str, SubscriptionRecord] = field(default_factory=dict, repr=False)

    @property
    def organization_id(self) -> str:
        return self.catalogue.organization_id

    @functools.cached_property
    def products(self) -> list[dict[str, Any]]:
        """The catalogue as `GET /v1/products/` returns it, archived products included."""
        return [product_object(product, self.organization_id) for product in self.catalogue.products]

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        """The customer as the list has it now; `None` for one no longer in it."""
        found = self._by_id.get(customer_id)
        if found is None or found.get("id") != customer_id:
            self._by_id = {c["id"]: c for c in self.customers}
            found = self._by_id.get(customer_id)
        return found

    def subscriptions_by_customer(self) -> dict[str, list[SubscriptionRecord]]:
        """Each customer's subscriptions, oldest first."""
        grouped: dict[str, list[SubscriptionRecord]] = {}
        for record in self.subscriptions:
            grouped.setdefault(record.customer_id, []).append(record)
        return grouped

    def subscription(self, subscription_id: str) -> SubscriptionRecord | None:
        return self._subscriptions_by_id().get(subscription_id)

    def _subscriptions_by_id(self) -> dict[str, SubscriptionRecord]:
        if len(self._subscription_index) != len(self.subscriptions):
            self._subscription_index = {record.id: record for record in self.subscriptions}
        return self._subscription_index

    def redemptions(self) -> dict[str, int]:
        """How often each discount was redeemed: by subscriptions, and by one-time purchases."""
        counts: dict[str, int] = {}
        for record in self.subscriptions:
            if record.discount_id:
                counts[record.discount_id] = counts.get(record.discount_id, 0) + 1
        for order in self.orders:
            if order.discount_id and order.subscription_id is None:
                counts[order.discount_id] = counts.get(order.discount_id, 0) + 1
        return counts


def customer_billing(
    customer: dict[str, Any], found: Catalogue, anchor: datetime
) -> tuple[list[SubscriptionRecord], list[OrderRecord]]:
    """The demo rule for one customer: their subscriptions, and every order (billing periods, then
    one-time purchases), invoice-numbered in order of creation."""
    subscriptions = customer_subscriptions(customer, found, anchor)
    rng = random.Random(f"orders:{customer['id']}")
    party = BillingParty.of(customer)
    orders: list[OrderRecord] = []
    for record in subscriptions:
        orders.extend(subscription_orders(rng, record, found.by_id[record.product_id], party, anchor))
    orders.extend(customer_purchases(rng, party, found, anchor))
    number_invoices(orders, customer["id"])
    return subscriptions, orders


def sample_billing(
    customers: Sequence[dict[str, Any]],
    as_of: datetime | None = None,
    *,
    products: int | None = None,
    subscriptions: int | None = None,
    orders: int | None = None,
) -> SampleBilling:
    """The organization's billing on `as_of`'s date (today's when `None`).

    Without `subscriptions` and `orders`, the demo rule, customer by customer. With either, a benchmark
    organization with exactly that many subscriptions (default: two customers in five) and orders
    (default: ten a subscription), over a catalogue of `products` products (default: the demo's)."""
    anchor = anchor_of(as_of)
    organization_id = customers[0]["organization_id"] if customers else DEMO_ORGANIZATION_ID
    found = catalogue(organization_id, products)
    if subscriptions is None and orders is None:
        all_subscriptions: list[SubscriptionRecord] = []
        all_orders: list[OrderRecord] = []
        for customer in customers:
            customer_subs, customer_orders = customer_billing(customer, found, anchor)
            all_subscriptions.extend(customer_subs)
            all_orders.extend(customer_orders)
        return SampleBilling(anchor, found, customers, all_subscriptions, all_orders)
    wanted_subscriptions = round(0.4 * len(customers)) if subscriptions is None else subscriptions
    wanted_orders = 10 * wanted_subscriptions if orders is None else orders
    return _large(customers, found, anchor, wanted_subscriptions, wanted_orders)


def _large(
    customers: Sequence[dict[str, Any]], found: Catalogue, anchor: datetime, wanted: int, wanted_orders: int
) -> SampleBilling:
    if wanted_orders < wanted:
        raise ValueError(f"every subscription has an order: {wanted_orders} orders cannot cover {wanted}")
    if wanted and not customers:
        raise ValueError("subscriptions need customers")
    rng = random.Random(
        f"large:{found.organization_id}:{anchor.date()}:{len(customers)}:{wanted}:{wanted_orders}"
    )
    # Weekly and metered products would take too many orders; the rest are drawn evenly.
    plans = [
        p
        for p in found.products
        if p.spec.interval in ("month", "year") and not p.spec.metered and not p.spec.archived
    ]
    per_month = sum(
        1 / (approximate_days(p.spec.interval or "month", p.spec.interval_count) / 30.44) for p in plans
    )
    per_month /= len(plans)
    # Starts spread evenly over `months` give each subscription about months/2 periods of its plan, plus one.
    months = (_ORDER_HEADROOM * wanted_orders / max(wanted, 1) - 1) / (per_month / 2)
    months = min(max(months, 0.5), 60.0)
    order_of_customers = rng.sample(range(len(customers)), len(customers)) if customers else []
    parties: dict[str, BillingParty] = {}
    records: list[SubscriptionRecord] = []
    all_orders: list[OrderRecord] = []
    discounts = [found.discount_by_key["launch20"], found.discount_by_key["partner"]]
    for index in range(wanted):
        customer = customers[order_of_customers[index % len(customers)]]
        party = parties.get(customer["id"]) or parties.setdefault(customer["id"], BillingParty.of(customer))
        product = plans[rng.randrange(len(plans))]
        kind = rng.choices(_LARGE_KINDS, weights=_LARGE_WEIGHTS)[0]
        if kind.startswith("trial") and not product.spec.trial_days:
            kind = "active"
        start = anchor - timedelta(days=rng.uniform(0.05, months * 30.44))
        if party.created_at < anchor:
            start = max(start, party.created_at + timedelta(minutes=rng.randint(0, 600)))
            start = min(start, anchor - timedelta(hours=1))
        discount = discounts[rng.randrange(2)] if rng.random() < 0.1 else None
        spec = product.spec
        record = draw_subscription(
            rng,
            customer_id=customer["id"],
            product=product,
            kind=kind,
            start=start,
            anchor=anchor,
            net_amount=spec.amount - discount.spec.amount_off(spec.amount, spec.currency)
            if discount
            else None,
            discount_id=discount.id if discount else None,
        )
        records.append(record)
        all_orders.extend(subscription_orders(rng, record, product, party, anchor))
    remaining = wanted_orders - len(all_orders)
    if remaining < 0:
        raise ValueError(f"{wanted} subscriptions took {len(all_orders)} orders, more than {wanted_orders}")
    for _ in range(remaining):
        customer = customers[rng.randrange(len(customers))]
        party = parties.get(customer["id"]) or parties.setdefault(customer["id"], BillingParty.of(customer))
        product = pick_one_time_product(rng, found, party.country)
        created = purchase_time(rng, party.created_at, anchor)
        all_orders.append(
            purchase_order(rng, party, product, created, anchor, pick_purchase_discount(rng, found))
        )
    by_customer: dict[str, list[OrderRecord]] = {}
    for order in all_orders:
        by_customer.setdefault(order.customer_id, []).append(order)
    for customer_id, customer_orders in by_customer.items():
        number_invoices(customer_orders, customer_id)
    return SampleBilling(anchor, found, customers, records, all_orders)


def demo_billing(as_of: datetime | None = None) -> SampleBilling:
    """The demo organization's billing on `as_of`'s date (today's when `None`)."""
    return sample_billing(demo_customers(), as_of)


def api_subscriptions(billing: SampleBilling) -> list[dict[str, Any]]:
    """Every subscription as Polar's API returns it (`Subscription`), customers' current details embedded.
    Subscriptions of customers no longer in the list are left out."""
    redemptions = billing.redemptions()
    found = []
    for record in billing.subscriptions:
        customer = billing.customer(record.customer_id)
        if customer is not None:
            found.append(subscription_object(record, customer, billing.catalogue, redemptions=redemptions))
    return found


def api_orders(billing: SampleBilling) -> list[dict[str, Any]]:
    """Every order as Polar's API returns it (`Order`), newest first, as Polar lists them."""
    redemptions = billing.redemptions()
    found = []
    for order in sorted(billing.orders, key=lambda o: (o.created_at, o.id), reverse=True):
        customer = billing.customer(order.customer_id)
        if customer is None:
            continue
        subscription = billing.subscription(order.subscription_id) if order.subscription_id else None
        found.append(order_object(order, customer, billing.catalogue, subscription, redemptions=redemptions))
    return found
