"""The sample organization's subscriptions: how each is drawn, its billing periods, and its API shapes.

A `SubscriptionRecord` holds what Polar stores for a subscription (net amount and cancellation reason
included, which the API object does not show). `draw_subscription` places one relative to the day the
data describes (`anchor`, see `periods.py`): live ones have a current period around it, trials end in
the coming days, ended ones ended before it. `customer_subscriptions` is the demo organization's rule:
customers on a paid plan (`pro`, `team`, `enterprise`, from metadata `plan`) have an active, trialing or
past-due subscription, some also an older ended one; more than half of the others once paid and canceled.
Everything derives from the customer's ID, metadata and signup time, and from the anchor.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from polar_mcp.demo.catalogue import (
    Catalogue,
    CatalogueProduct,
    discount_object,
    meter_object,
    product_object,
)
from polar_mcp.demo.periods import api_time, approximate_days, parse_api_time, period_start, periods_before

__all__ = [
    "ACTIVE_STATUSES",
    "CANCELLATION_REASONS",
    "KINDS",
    "PAID_PLANS",
    "STATE_STATUSES",
    "MeterUsage",
    "SubscriptionRecord",
    "customer_subscriptions",
    "draw_subscription",
    "order_subscription_object",
    "state_subscription",
    "subscription_object",
]

STATE_STATUSES = frozenset({"active", "trialing"})
"""Subscriptions Polar's customer state shows."""
ACTIVE_STATUSES = STATE_STATUSES | {"past_due"}
"""Subscriptions the customer list's `active=true` counts."""
PAID_PLANS = ("pro", "team", "enterprise")
CANCELLATION_REASONS = (
    "customer_service",
    "low_quality",
    "missing_features",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
    "other",
)
KINDS = ("active", "canceling", "trialing", "trial_canceling", "past_due", "ended", "ended_now")
"""What `draw_subscription` can draw: live ones (`canceling` is active and set to cancel at period end),
`ended` (canceled at period end, the period over) and `ended_now` (canceled immediately)."""

_REASON_WEIGHTS = (6, 3, 8, 5, 3, 10, 7, 4)
_COMMENTS = (
    "We moved to another tool.",
    "Too pricey for a team our size.",
    "Not using it enough right now.",
    "Missing an export to our accounting tool.",
)
_METER_CREDIT = 10_000
_EU = {"DE", "FR", "ES", "PL", "SE", "GR"}
_PLAN_PRODUCTS = {
    "pro": ("pro_monthly", "pro_monthly", "pro_yearly", "pro_quarterly"),
    "team": ("team_monthly", "team_yearly"),
    "enterprise": ("enterprise",),
}
_ADDON_SHARE = {"pro": 0.4, "team": 0.3, "enterprise": 0.6}
_HOUR = timedelta(hours=1)


@dataclass(slots=True)
class MeterUsage:
    """A metered subscription's usage in its current period."""

    id: str
    consumed_units: float
    credited_units: int
    amount: int
    created_at: datetime
    modified_at: datetime


@dataclass(slots=True)
class SubscriptionRecord:
    """One subscription as Polar stores it. Times are aware UTC datetimes."""

    id: str
    customer_id: str
    product_id: str
    status: str
    amount: int
    net_amount: int
    currency: str
    recurring_interval: str
    recurring_interval_count: int
    created_at: datetime
    started_at: datetime | None
    current_period_start: datetime
    current_period_end: datetime
    trial_start: datetime | None = None
    trial_end: datetime | None = None
    cancel_at_period_end: bool = False
    canceled_at: datetime | None = None
    ends_at: datetime | None = None
    ended_at: datetime | None = None
    customer_cancellation_reason: str | None = None
    customer_cancellation_comment: str | None = None
    discount_id: str | None = None
    checkout_id: str | None = None
    past_due_at: datetime | None = None
    modified_at: datetime | None = None
    seats: int | None = None
    meter: MeterUsage | None = None

    def billing_periods(self) -> Iterator[tuple[datetime, datetime, bool]]:
        """Every billing period so far, oldest first, up to the current (or last) one: `(start, end,
        is_trial)`. Polar bills each at its start: a $0 order for a trial, then one order a period."""
        if self.started_at is None:
            return
        base = self.started_at
        if self.trial_start is not None and self.trial_end is not None:
            yield self.trial_start, self.trial_end, True
            if self.current_period_start <= self.trial_start:
                return
            base = self.trial_end
        index = 0
        interval, count = self.recurring_interval, self.recurring_interval_count
        start = period_start(base, interval, count, 0)
        while start <= self.current_period_start:
            end = period_start(base, interval, count, index + 1)
            yield start, end, False
            index += 1
            start = end


def draw_subscription(
    rng: random.Random,
    *,
    customer_id: str,
    product: CatalogueProduct,
    kind: str,
    start: datetime,
    anchor: datetime,
    net_amount: int | None = None,
    discount_id: str | None = None,
    recent: bool = False,
) -> SubscriptionRecord:
    """One subscription of `kind` (see `KINDS`) to `product`, begun at `start` (before `anchor`; trials
    start in the last two weeks instead). `recent` ends an ended one as late as it can."""
    spec = product.spec
    interval = spec.interval
    if interval is None:
        raise ValueError(f"{spec.key} is a one-time product")
    count = spec.interval_count
    record = SubscriptionRecord(
        id=_uuid(rng),
        customer_id=customer_id,
        product_id=product.id,
        status="active",
        amount=spec.amount,
        net_amount=spec.amount if net_amount is None else net_amount,
        currency=spec.currency,
        recurring_interval=interval,
        recurring_interval_count=count,
        created_at=start,
        started_at=start,
        current_period_start=start,
        current_period_end=start,
        discount_id=discount_id,
        checkout_id=_uuid(rng),
    )
    if kind in ("trialing", "trial_canceling"):
        _trial(rng, record, product, anchor, start, canceling=kind == "trial_canceling")
    elif kind in ("active", "canceling", "past_due"):
        _live(rng, record, product, anchor, kind)
    elif kind in ("ended", "ended_now"):
        _ended(rng, record, anchor, immediately=kind == "ended_now", recent=recent)
    else:
        raise ValueError(f"unknown subscription kind {kind!r}")
    record.modified_at = record.canceled_at or record.past_due_at
    if spec.metered and record.status in STATE_STATUSES:
        consumed = float(rng.randint(0, 15_000))
        record.meter = MeterUsage(
            id=_uuid(rng),
            consumed_units=consumed,
            credited_units=_METER_CREDIT,
            amount=max(0, int(consumed) - _METER_CREDIT) // 10,  # $0.001 a call beyond the credit
            created_at=record.current_period_start,
            modified_at=anchor,
        )
    return record


def _trial(
    rng: random.Random,
    record: SubscriptionRecord,
    product: CatalogueProduct,
    anchor: datetime,
    earliest: datetime,
    *,
    canceling: bool,
) -> None:
    days = product.spec.trial_days or 14
    # The trial ends in the coming days; a customer who signed up since starts it at signup.
    trial_start = anchor - timedelta(days=days) + timedelta(seconds=rng.randint(86_400, 6 * 86_400 + 80_000))
    trial_start = max(trial_start, min(earliest, anchor - _HOUR))
    trial_end = trial_start + timedelta(days=days)
    record.status = "trialing"
    record.created_at = record.started_at = record.trial_start = record.current_period_start = trial_start
    record.trial_end = record.current_period_end = trial_end
    if canceling:
        record.cancel_at_period_end = True
        record.canceled_at = trial_start + (anchor - trial_start) * rng.uniform(0.2, 0.95)
        record.ends_at = trial_end
        record.customer_cancellation_reason = _reason(rng)


def _live(
    rng: random.Random, record: SubscriptionRecord, product: CatalogueProduct, anchor: datetime, kind: str
) -> None:
    assert record.started_at is not None
    interval, count = record.recurring_interval, record.recurring_interval_count
    base = record.started_at
    days = product.spec.trial_days
    if days and rng.random() < 0.3 and base + timedelta(days=days) < anchor:
        record.trial_start, record.trial_end = base, base + timedelta(days=days)
        base = record.trial_end
    done = periods_before(base, interval, count, anchor)
    if kind == "past_due" and done < 2:
        kind = "active"  # past due means a renewal failed: there must have been one
    record.current_period_start = period_start(base, interval, count, done - 1)
    record.current_period_end = period_start(base, interval, count, done)
    if kind == "past_due":
        record.status = "past_due"
        record.past_due_at = record.current_period_start + timedelta(seconds=rng.randint(30, 600))
    elif kind == "canceling":
        spent = min(anchor, record.current_period_end) - record.current_period_start
        record.cancel_at_period_end = True
        record.canceled_at = record.current_period_start + spent * rng.uniform(0.05, 0.95)
        record.ends_at = record.current_period_end
        record.customer_cancellation_reason = _reason(rng)
        record.customer_cancellation_comment = _comment(rng)


def _ended(
    rng: random.Random, record: SubscriptionRecord, anchor: datetime, *, immediately: bool, recent: bool
) -> None:
    assert record.started_at is not None
    interval, count = record.recurring_interval, record.recurring_interval_count
    base = record.started_at
    boundaries = periods_before(base, interval, count, anchor - _HOUR) - 1  # renewals before the anchor
    record.status = "canceled"
    record.customer_cancellation_reason = _reason(rng)
    record.customer_cancellation_comment = _comment(rng)
    if not immediately and boundaries >= 1:
        # Most customers who leave do so in their first months.
        periods = boundaries if recent else min(boundaries, 1 + int(rng.expovariate(1 / 3)))
        record.current_period_start = period_start(base, interval, count, periods - 1)
        record.current_period_end = period_start(base, interval, count, periods)
        spent = record.current_period_end - record.current_period_start
        record.canceled_at = record.current_period_start + spent * rng.uniform(0.1, 0.9)
        record.cancel_at_period_end = True
        record.ends_at = record.ended_at = record.current_period_end
        return
    periods = max(0, boundaries) if recent else min(max(0, boundaries), int(rng.expovariate(1 / 3)))
    record.current_period_start = period_start(base, interval, count, periods)
    record.current_period_end = period_start(base, interval, count, periods + 1)
    latest = min(record.current_period_end, anchor - _HOUR)
    ended = record.current_period_start + (latest - record.current_period_start) * rng.uniform(0.05, 0.95)
    record.canceled_at = record.ends_at = record.ended_at = ended


def _reason(rng: random.Random) -> str | None:
    if rng.random() < 0.15:
        return None  # no reason given
    return rng.choices(CANCELLATION_REASONS, weights=_REASON_WEIGHTS)[0]


def _comment(rng: random.Random) -> str | None:
    return rng.choice(_COMMENTS) if rng.random() < 0.2 else None


def customer_subscriptions(
    customer: dict[str, Any], catalogue: Catalogue, anchor: datetime
) -> list[SubscriptionRecord]:
    """The demo rule: every subscription of one customer, any status, oldest first."""
    rng = random.Random(f"subscriptions:{customer['id']}")
    products = catalogue.by_key
    plan = (customer.get("metadata") or {}).get("plan")
    created = parse_api_time(customer["created_at"])
    country = (customer.get("billing_address") or {}).get("country")
    if plan not in PAID_PLANS:
        if rng.random() >= 0.6:
            return []
        # Some free customers once paid: a canceled subscription counts nowhere now.
        product = products["pro_legacy" if rng.random() < 0.4 else "pro_monthly"]
        kind = "ended" if rng.random() < 0.7 else "ended_now"
        start = _start(rng, created, anchor, product)
        return [
            draw_subscription(
                rng,
                customer_id=customer["id"],
                product=product,
                kind=kind,
                start=start,
                anchor=anchor,
                recent=rng.random() < 0.05,
            )
        ]
    plan = str(plan)
    main_key = rng.choice(_PLAN_PRODUCTS[plan])
    if plan == "pro" and rng.random() < 0.1:
        main_key = "pro_legacy"  # grandfathered on the archived plan
    if plan == "team" and country in _EU and rng.random() < 0.7:
        main_key = "team_eu"
    if plan in ("pro", "team") and country == "JP":
        main_key = f"{plan}_japan"
    chosen = [products[main_key]]
    if chosen[0].spec.currency == "usd" and rng.random() < _ADDON_SHARE[plan]:
        chosen.append(products["api_addon"])
    if plan == "pro" and rng.random() < 0.15:
        chosen.append(products["sponsor"])
    roll = rng.random()
    kind = (
        "active"
        if roll < 0.66
        else "canceling"
        if roll < 0.7
        else "trialing"
        if roll < 0.82
        else "trial_canceling"
        if roll < 0.85
        else "past_due"
    )
    if kind.startswith("trial") and not chosen[0].spec.trial_days:
        kind = "active"
    subscriptions: list[SubscriptionRecord] = []
    floor = created
    if rng.random() < 0.25:
        # An earlier subscription, canceled before this one began.
        earlier = products["pro_legacy" if plan == "pro" else "pro_monthly"]
        previous = draw_subscription(
            rng,
            customer_id=customer["id"],
            product=earlier,
            kind="ended",
            start=_start(rng, created, anchor, earlier, within_days=20),
            anchor=anchor,
        )
        assert previous.ended_at is not None
        if previous.ended_at < anchor - timedelta(days=30):
            subscriptions.append(previous)
            floor = previous.ended_at + timedelta(days=rng.randint(3, 40))
    discount = None
    if rng.random() < 0.12:
        discount = catalogue.discount_by_key["launch20" if rng.random() < 0.6 else "partner"]
    for index, product in enumerate(chosen):
        # Add-ons are bought later and are never on trial; a past-due customer is past due on all.
        sub_kind = kind if index == 0 or kind == "past_due" else "active"
        start = _start(rng, floor, anchor, product)
        net = None
        if index == 0 and discount is not None:
            net = product.spec.amount - discount.spec.amount_off(product.spec.amount, product.spec.currency)
        subscriptions.append(
            draw_subscription(
                rng,
                customer_id=customer["id"],
                product=product,
                kind=sub_kind,
                start=start,
                anchor=anchor,
                net_amount=net,
                discount_id=discount.id if index == 0 and discount is not None else None,
            )
        )
    return subscriptions


def _start(
    rng: random.Random, floor: datetime, anchor: datetime, product: CatalogueProduct, within_days: int = 60
) -> datetime:
    """A start within `within_days` of `floor`, and before the anchor; a customer who signed up after
    the anchor (only with an anchor earlier than the sample's signups) starts in the weeks before it."""
    latest = anchor - _HOUR
    start = floor + timedelta(minutes=rng.randint(0, within_days * 1440), seconds=rng.randint(0, 59))
    if start <= latest:
        return start
    if floor <= latest:
        return floor + (latest - floor) * rng.random()
    period = min(approximate_days(product.spec.interval or "month", product.spec.interval_count), 28)
    return anchor - timedelta(days=rng.uniform(1, period))


def state_subscription(record: SubscriptionRecord, catalogue: Catalogue) -> dict[str, Any]:
    """The subscription as the customer state lists it (`CustomerStateSubscription`)."""
    meter = record.meter
    return {
        "id": record.id,
        "created_at": api_time(record.created_at),
        "modified_at": _time(record.modified_at),
        "custom_field_data": {},
        "metadata": {},
        "status": record.status,
        "amount": record.amount,
        "currency": record.currency,
        "recurring_interval": record.recurring_interval,
        "current_period_start": api_time(record.current_period_start),
        "current_period_end": api_time(record.current_period_end),
        "trial_start": _time(record.trial_start),
        "trial_end": _time(record.trial_end),
        "cancel_at_period_end": record.cancel_at_period_end,
        "canceled_at": _time(record.canceled_at),
        "started_at": _time(record.started_at),
        "ends_at": _time(record.ends_at),
        "product_id": record.product_id,
        "discount_id": record.discount_id,
        "meters": []
        if meter is None
        else [
            {
                "created_at": api_time(meter.created_at),
                "modified_at": api_time(meter.modified_at),
                "id": meter.id,
                "consumed_units": meter.consumed_units,
                "credited_units": meter.credited_units,
                "amount": meter.amount,
                "meter_id": catalogue.meter_id,
            }
        ],
    }


def subscription_object(
    record: SubscriptionRecord,
    customer: dict[str, Any],
    catalogue: Catalogue,
    *,
    redemptions: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The subscription as `GET /v1/subscriptions/` returns it (Polar's `Subscription` schema)."""
    product = catalogue.by_id[record.product_id]
    discount = catalogue.discount_by_id.get(record.discount_id) if record.discount_id else None
    state = state_subscription(record, catalogue)
    meters = [{**meter, "meter": meter_object(catalogue)} for meter in state["meters"]]
    organization_id = catalogue.organization_id
    product_body = product_object(product, organization_id)
    return {
        "created_at": state["created_at"],
        "modified_at": state["modified_at"],
        "id": record.id,
        "amount": record.amount,
        "currency": record.currency,
        "recurring_interval": record.recurring_interval,
        "recurring_interval_count": record.recurring_interval_count,
        "status": record.status,
        "current_period_start": state["current_period_start"],
        "current_period_end": state["current_period_end"],
        "current_meter_period_start": None,
        "current_meter_period_end": None,
        "trial_start": state["trial_start"],
        "trial_end": state["trial_end"],
        "cancel_at_period_end": record.cancel_at_period_end,
        "canceled_at": state["canceled_at"],
        "started_at": state["started_at"],
        "ends_at": state["ends_at"],
        "ended_at": _time(record.ended_at),
        "past_due_at": _time(record.past_due_at),
        "pause_at_period_end": False,
        "paused_at": None,
        "resumes_at": None,
        "customer_id": record.customer_id,
        "product_id": record.product_id,
        "discount_id": record.discount_id,
        "checkout_id": record.checkout_id,
        "seats": record.seats,
        "customer_cancellation_reason": record.customer_cancellation_reason,
        "customer_cancellation_comment": record.customer_cancellation_comment,
        "metadata": {},
        "custom_field_data": {},
        "customer": customer,
        "product": product_body,
        "discount": None
        if discount is None
        else discount_object(discount, organization_id, (redemptions or {}).get(discount.id, 0)),
        "prices": product_body["prices"],
        "meters": meters,
        "pending_update": None,
    }


def order_subscription_object(record: SubscriptionRecord) -> dict[str, Any]:
    """The subscription as an order embeds it (`OrderSubscription`: no customer, product or meters)."""
    return {
        "metadata": {},
        "created_at": api_time(record.created_at),
        "modified_at": _time(record.modified_at),
        "id": record.id,
        "amount": record.amount,
        "currency": record.currency,
        "recurring_interval": record.recurring_interval,
        "recurring_interval_count": record.recurring_interval_count,
        "status": record.status,
        "current_period_start": api_time(record.current_period_start),
        "current_period_end": api_time(record.current_period_end),
        "current_meter_period_start": None,
        "current_meter_period_end": None,
        "trial_start": _time(record.trial_start),
        "trial_end": _time(record.trial_end),
        "cancel_at_period_end": record.cancel_at_period_end,
        "canceled_at": _time(record.canceled_at),
        "started_at": _time(record.started_at),
        "ends_at": _time(record.ends_at),
        "ended_at": _time(record.ended_at),
        "past_due_at": _time(record.past_due_at),
        "pause_at_period_end": False,
        "paused_at": None,
        "resumes_at": None,
        "customer_id": record.customer_id,
        "product_id": record.product_id,
        "discount_id": record.discount_id,
        "checkout_id": record.checkout_id,
        "seats": record.seats,
        "customer_cancellation_reason": record.customer_cancellation_reason,
        "customer_cancellation_comment": record.customer_cancellation_comment,
    }


def _time(moment: datetime | None) -> str | None:
    return api_time(moment) if moment is not None else None


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
