"""The sample organization's billing: placed relative to the day it describes, consistent with itself and
with the customer state, shaped like a real organization's, and valid against Polar's own excerpt."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from polar_mcp.demo import demo_transport
from polar_mcp.demo.billing import ACTIVE_STATUSES, STATE_STATUSES, sample_holdings
from polar_mcp.demo.catalogue import DEMO_PRODUCTS, catalogue, sample_products
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar
from polar_mcp.demo.ledger import SampleBilling, api_orders, api_subscriptions, demo_billing, sample_billing
from polar_mcp.demo.orders import PAID_STATUSES
from polar_mcp.demo.organization import demo_customers, sample_customers
from polar_mcp.demo.periods import anchor_of, period_start
from tests.conftest import DATA

BILLING_OPENAPI = json.loads((DATA / "billing-read.openapi.json").read_text())
READ_OPENAPI = json.loads((DATA / "customers-read.openapi.json").read_text())
SHARED_COPY = Path(__file__).resolve().parents[2] / "shared" / "polar" / "billing-read.openapi.json"
AS_OF = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
ANCHOR = datetime(2026, 12, 2, tzinfo=UTC)
DEMO = demo_customers()
BILLING = demo_billing(AS_OF)


def validator_for(document: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("openapi.json", resource)
    return jsonschema.Draft202012Validator(
        {"$ref": f"openapi.json#/components/schemas/{name}"}, registry=registry
    )


SUBSCRIPTION = validator_for(BILLING_OPENAPI, "Subscription")
ORDER = validator_for(BILLING_OPENAPI, "Order")
PRODUCT_PAGE = validator_for(READ_OPENAPI, "ListResource_Product_")
STATE = validator_for(READ_OPENAPI, "CustomerState")
KNOWN_BENEFIT_TYPES = set(READ_OPENAPI["components"]["schemas"]["BenefitType"]["enum"])


def get(fake: FakePolar, path: str, params: Any = None) -> httpx.Response:
    with httpx.Client(transport=httpx.MockTransport(fake), base_url="https://api.polar.sh") as client:
        return client.get(path, params=params, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})


def test_bundled_billing_openapi_matches_the_shared_contract() -> None:
    if not SHARED_COPY.exists():
        pytest.skip("shared contract not checked out beside the repository")
    assert json.loads(SHARED_COPY.read_text()) == BILLING_OPENAPI


def test_the_data_describes_midnight_utc_of_the_as_of_date() -> None:
    assert anchor_of(AS_OF) == ANCHOR
    assert anchor_of(datetime(2026, 12, 2, 23, 59, tzinfo=UTC)) == ANCHOR
    assert anchor_of(datetime(2026, 12, 3, 1, 0)) == ANCHOR + timedelta(days=1)  # naive is UTC
    assert BILLING.anchor == ANCHOR


def test_the_same_date_gives_the_same_data_and_another_date_moves_it() -> None:
    again = demo_billing(datetime(2026, 12, 2, 0, 0, 1, tzinfo=UTC))
    assert again.subscriptions == BILLING.subscriptions and again.orders == BILLING.orders
    assert sample_holdings(DEMO, AS_OF) == sample_holdings(demo_customers(), ANCHOR)
    later = demo_billing(AS_OF + timedelta(days=40))
    trials = [s for s in later.subscriptions if s.status == "trialing"]
    assert trials and all(
        later.anchor < s.trial_end < later.anchor + timedelta(days=14) for s in trials if s.trial_end
    )
    assert len(later.orders) > len(BILLING.orders)  # forty more days of renewals


def test_nothing_happened_after_the_day_it_describes() -> None:
    for record in BILLING.subscriptions:
        assert record.started_at is not None and record.started_at < ANCHOR
        assert (
            record.current_period_start <= ANCHOR < record.current_period_end or record.status == "canceled"
        )
        for moment in (record.canceled_at, record.ended_at, record.past_due_at):
            assert moment is None or moment <= ANCHOR
    assert all(order.created_at < ANCHOR for order in BILLING.orders)
    assert all(order.modified_at is None or order.modified_at < ANCHOR for order in BILLING.orders)


def test_paid_plans_and_only_they_have_an_active_trialing_or_past_due_subscription() -> None:
    holdings = sample_holdings(DEMO, AS_OF)
    with_active = {
        c["id"]
        for c in DEMO
        if any(s["status"] in ACTIVE_STATUSES for s in holdings[c["id"]]["subscriptions"])
    }
    paid = {c["id"] for c in DEMO if c["metadata"].get("plan") in ("pro", "team", "enterprise")}
    assert with_active == paid
    fake = FakePolar(DEMO, as_of=AS_OF)
    listed = get(fake, "/v1/customers/", {"active": "true", "limit": 100}).json()
    assert listed["pagination"]["total_count"] == len(paid)


def test_the_customer_state_shows_the_records_active_and_trialing_subscriptions() -> None:
    fake = FakePolar(DEMO, as_of=AS_OF)
    grouped = BILLING.subscriptions_by_customer()
    for customer in DEMO[:80]:
        state = get(fake, f"/v1/customers/{customer['id']}/state").json()
        known = json.loads(json.dumps(state))
        for grant in known["granted_benefits"]:
            if grant["benefit_type"] not in KNOWN_BENEFIT_TYPES:
                grant["benefit_type"] = "custom"
        STATE.validate(known)
        records = [r for r in grouped.get(customer["id"], []) if r.status in STATE_STATUSES]
        assert [s["id"] for s in state["active_subscriptions"]] == [r.id for r in records]
        for shown, record in zip(state["active_subscriptions"], records, strict=True):
            assert shown["amount"] == record.amount and shown["currency"] == record.currency
            assert shown["current_period_end"].startswith(
                record.current_period_end.strftime("%Y-%m-%dT%H:%M:%S")
            )


def test_the_demo_is_shaped_like_a_real_organization() -> None:
    subscriptions = BILLING.subscriptions
    statuses = Counter(s.status for s in subscriptions)
    assert {"active", "trialing", "past_due", "canceled"} <= set(statuses)
    assert {s.currency for s in subscriptions} >= {"usd", "eur", "gbp", "jpy"}
    intervals = {(s.recurring_interval, s.recurring_interval_count) for s in subscriptions}
    assert {("month", 1), ("year", 1), ("month", 3), ("week", 1)} <= intervals
    week = ANCHOR + timedelta(days=7)
    trials = [s for s in subscriptions if s.status == "trialing"]
    assert trials and all(s.trial_end is not None and ANCHOR < s.trial_end < week for s in trials)
    renewing = [s for s in subscriptions if s.status == "active" and not s.cancel_at_period_end]
    assert sum(ANCHOR < s.current_period_end < week for s in renewing) >= 10
    canceling = [s for s in subscriptions if s.status == "active" and s.cancel_at_period_end]
    assert canceling and all(s.ends_at == s.current_period_end and s.canceled_at for s in canceling)
    ended = [s for s in subscriptions if s.status == "canceled"]
    assert all(s.ended_at is not None and s.ends_at is not None and s.canceled_at is not None for s in ended)
    reasons = Counter(s.customer_cancellation_reason for s in subscriptions if s.canceled_at)
    assert {"customer_service", "too_expensive", None} <= set(reasons)
    recent = [s for s in subscriptions if s.canceled_at and s.canceled_at > ANCHOR - timedelta(days=30)]
    assert {"active", "canceled"} <= {s.status for s in recent} and len(recent) >= 10
    past_due = [s for s in subscriptions if s.status == "past_due"]
    assert past_due and all(s.past_due_at is not None for s in past_due)


def test_orders_follow_the_subscriptions_period_by_period() -> None:
    orders_of: dict[str | None, list[Any]] = {}
    for order in BILLING.orders:
        orders_of.setdefault(order.subscription_id, []).append(order)
    for record in BILLING.subscriptions:
        periods = list(record.billing_periods())
        orders = sorted(orders_of.pop(record.id), key=lambda o: o.created_at)
        assert len(orders) == len(periods)
        assert [o.billing_reason for o in orders] == ["subscription_create"] + ["subscription_cycle"] * (
            len(orders) - 1
        )
        for order, (start, end, trial) in zip(orders, periods, strict=True):
            assert start <= order.created_at < end
            assert order.customer_id == record.customer_id and order.currency == record.currency
            assert order.product_id == record.product_id
            assert order.subtotal_amount == (0 if trial else record.amount)
            assert order.net_amount == (0 if trial else record.net_amount)
            assert order.total_amount == order.net_amount + order.tax_amount
        assert (orders[-1].status == "pending") is (record.status == "past_due")
    purchases = orders_of.pop(None)
    assert not orders_of  # every order belongs to a subscription or is a purchase
    assert purchases and all(o.billing_reason == "purchase" for o in purchases)
    assert {BILLING.catalogue.by_id[o.product_id].recurring for o in purchases if o.product_id} == {False}


def test_a_trial_is_billed_nothing_then_the_full_amount() -> None:
    record = next(s for s in BILLING.subscriptions if s.trial_start and s.status == "active")
    orders = sorted((o for o in BILLING.orders if o.subscription_id == record.id), key=lambda o: o.created_at)
    assert orders[0].net_amount == 0 and orders[0].billing_reason == "subscription_create"
    assert orders[0].label.startswith("Trial period for ")
    assert orders[1].subtotal_amount == record.amount and orders[1].billing_reason == "subscription_cycle"
    assert record.trial_end is not None and orders[1].created_at >= record.trial_end


def test_discounts_refunds_tax_and_fees() -> None:
    orders = BILLING.orders
    assert any(o.discount_id and o.subscription_id for o in orders)
    assert any(o.discount_id and o.subscription_id is None for o in orders)
    coded = {d.id for d in BILLING.catalogue.discounts if d.spec.code}
    uncoded = {d.id for d in BILLING.catalogue.discounts if not d.spec.code}
    assert {s.discount_id for s in BILLING.subscriptions} & coded and {
        s.discount_id for s in BILLING.subscriptions
    } & uncoded
    partial = [o for o in orders if o.status == "partially_refunded"]
    full = [o for o in orders if o.status == "refunded"]
    assert partial and all(0 < o.refunded_amount < o.net_amount for o in partial)
    assert full and all(
        o.refunded_amount == o.net_amount and o.refunded_tax_amount == o.tax_amount for o in full
    )
    assert any(o.tax_amount > 0 for o in orders) and any(
        o.tax_amount == 0 and o.net_amount > 0 for o in orders
    )
    for order in orders:
        paid_something = order.status in PAID_STATUSES and order.total_amount > 0
        assert (order.platform_fee_amount > 0) is paid_something
        assert order.discount_amount == order.subtotal_amount - order.net_amount


def test_team_customers_without_email_have_subscriptions_and_orders() -> None:
    no_email = {c["id"] for c in DEMO if c["type"] == "team" and c["email"] is None}
    assert any(s.customer_id in no_email for s in BILLING.subscriptions)
    assert any(o.customer_id in no_email for o in BILLING.orders)


def test_products_share_a_name_one_is_archived_and_some_are_one_time() -> None:
    products = BILLING.products
    names = Counter(p["name"] for p in products)
    shared = [name for name, count in names.items() if count > 1]
    assert shared == ["Team"]
    assert {p["prices"][0]["price_currency"] for p in products if p["name"] == "Team"} == {"gbp", "eur"}
    archived = [p for p in products if p["is_archived"]]
    assert [p["name"] for p in archived] == ["Pro Monthly (2024)"]
    assert any(s.product_id == archived[0]["id"] and s.status == "active" for s in BILLING.subscriptions)
    assert any(not p["is_recurring"] for p in products)
    assert products == sample_products(DEMO[0]["organization_id"])


def test_products_come_in_pages_of_at_most_100_archived_ones_included() -> None:
    fake = FakePolar(DEMO, as_of=AS_OF)
    seen: list[str] = []
    for page in range(1, 10):
        body = get(fake, "/v1/products/", {"limit": 5, "page": page}).json()
        PRODUCT_PAGE.validate(body)
        assert body["pagination"]["max_page"] == -(-len(DEMO_PRODUCTS) // 5)
        seen += [p["id"] for p in body["items"]]
        if not body["items"]:
            break
    assert sorted(seen) == sorted(p["id"] for p in fake.products) and len(set(seen)) == len(seen)
    assert get(fake, "/v1/products/", {"limit": 1000}).json()["pagination"]["max_page"] == 1
    # Polar documents these filters; the strict fake refuses them rather than ignore them.
    for name in ("is_archived", "query", "sorting"):
        assert get(fake, "/v1/products/", {name: "x"}).status_code == 400


def one_of_each(objects: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    chosen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in objects:
        chosen.setdefault(tuple(bool(item[k]) if k.endswith("_id") else item[k] for k in keys), item)
    return list(chosen.values())


def test_subscriptions_are_valid_polar_subscription_objects() -> None:
    objects = api_subscriptions(BILLING)
    assert len(objects) == len(BILLING.subscriptions)
    for item in one_of_each(
        objects, "status", "cancel_at_period_end", "currency", "discount_id", "recurring_interval"
    ):
        SUBSCRIPTION.validate(item)
    assert {o["customer"]["id"] for o in objects} <= {c["id"] for c in DEMO}
    metered = next(o for o in objects if o["meters"])
    SUBSCRIPTION.validate(metered)
    broken = {**metered, "status": "gone"}
    with pytest.raises(jsonschema.ValidationError):
        SUBSCRIPTION.validate(broken)


def test_orders_are_valid_polar_order_objects() -> None:
    objects = api_orders(BILLING)
    assert len(objects) == len(BILLING.orders)
    assert [o["created_at"] for o in objects] == sorted((o["created_at"] for o in objects), reverse=True)
    for item in one_of_each(
        objects, "status", "billing_reason", "currency", "discount_id", "subscription_id"
    ):
        ORDER.validate(item)
        assert item["total_amount"] == item["net_amount"] + item["tax_amount"]
        assert item["refundable_amount"] == item["net_amount"] - item["refunded_amount"]
        assert item["description"] == (item["product"] or {}).get("name", item["items"][0]["label"])
    assert {o["invoice_number"] for o in objects}.__len__() == len(objects)


def test_invoice_numbers_count_each_customers_orders_in_order() -> None:
    customer = next(c for c in DEMO if sum(o.customer_id == c["id"] for o in BILLING.orders) > 3)
    orders = sorted(
        (o for o in BILLING.orders if o.customer_id == customer["id"]), key=lambda o: o.created_at
    )
    numbers = [o.invoice_number or "" for o in orders]
    assert [n.rsplit("-", 1)[1] for n in numbers] == [f"{i:04d}" for i in range(1, len(orders) + 1)]
    assert len({n.rsplit("-", 1)[0] for n in numbers}) == 1


def test_a_large_organization_has_exactly_the_counts_asked_for() -> None:
    customers = sample_customers(3000, seed=5)
    billing = sample_billing(customers, AS_OF, products=40, subscriptions=1200, orders=12_000)
    assert (
        len(billing.subscriptions) == 1200 and len(billing.orders) == 12_000 and len(billing.products) == 40
    )
    assert (
        billing.subscriptions
        == sample_billing(customers, AS_OF, products=40, subscriptions=1200, orders=12_000).subscriptions
    )
    assert Counter(s.status for s in billing.subscriptions).keys() >= {
        "active",
        "trialing",
        "past_due",
        "canceled",
    }
    ids = {c["id"] for c in customers}
    assert all(s.customer_id in ids for s in billing.subscriptions)
    with pytest.raises(ValueError, match="cannot cover"):
        sample_billing(customers, AS_OF, subscriptions=100, orders=99)
    with pytest.raises(ValueError, match="at least"):
        catalogue(customers[0]["organization_id"], 3)


def test_a_fake_over_a_large_organization_answers_from_its_billing() -> None:
    customers = sample_customers(600, seed=11)
    billing = sample_billing(customers, AS_OF, subscriptions=300, orders=2000)
    fake = FakePolar(customers, billing=billing)
    active = {s.customer_id for s in billing.subscriptions if s.status in ACTIVE_STATUSES}
    listed = get(fake, "/v1/customers/", {"active": "true", "limit": 100}).json()
    assert listed["pagination"]["total_count"] == len(active)
    someone = next(iter(active))
    state = get(fake, f"/v1/customers/{someone}/state").json()
    assert {s["id"] for s in state["active_subscriptions"]} == {
        s.id for s in billing.subscriptions if s.customer_id == someone and s.status in STATE_STATUSES
    }
    assert get(fake, "/v1/products/", {"limit": 100}).json()["pagination"]["total_count"] == len(
        billing.products
    )


def test_the_fake_derives_its_billing_again_when_customers_come_and_go() -> None:
    fake = FakePolar(DEMO[:50], as_of=AS_OF)
    first = fake.billing
    assert fake.billing is first
    fake.customers.append({**DEMO[60]})
    assert fake.billing is not first and any(
        s.customer_id == DEMO[60]["id"] for s in fake.billing.subscriptions
    ) is (any(s.customer_id == DEMO[60]["id"] for s in BILLING.subscriptions))
    given = SampleBilling(ANCHOR, BILLING.catalogue, DEMO, [], [])
    fake.billing = given
    fake.customers.pop()
    assert fake.billing is given


def test_demo_mode_describes_today() -> None:
    transport = demo_transport()
    today = anchor_of(None)
    with httpx.Client(transport=transport, base_url="https://demo.polar-mcp.invalid") as client:
        headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
        rows = client.get(
            "/v1/subscriptions/export", params={"columns": ["status", "trial_end"]}, headers=headers
        )
    trial_ends = [line.split(",")[1] for line in rows.text.splitlines()[1:] if line.startswith("trialing")]
    assert trial_ends
    for text in trial_ends:
        moment = datetime.fromisoformat(text)
        assert today + timedelta(days=1) <= moment < today + timedelta(days=15)


def test_billing_periods_keep_the_day_of_the_month() -> None:
    start = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    assert [period_start(start, "month", 1, k).date().isoformat() for k in range(4)] == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
        "2026-04-30",
    ]
    assert period_start(start, "month", 3, 1).date().isoformat() == "2026-04-30"
    assert period_start(datetime(2024, 2, 29, tzinfo=UTC), "year", 1, 1).date().isoformat() == "2025-02-28"
