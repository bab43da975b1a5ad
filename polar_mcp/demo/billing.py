"""The sample organization's billing as Polar's customer state shows it: each customer's holdings.

A customer's holdings are every subscription (any status, in the customer state's shape), the benefit
grants of their active and trialing subscriptions' products, and those subscriptions' meters. They are
drawn from the same records as the organization's subscriptions, orders, exports and metrics
(`ledger.py`), on the day `as_of` describes (today's when `None`). Customers on a paid plan (`pro`,
`team`, `enterprise`) have at least one active, trialing or past-due subscription, the others none
(some have a canceled one): the list's `active` filter therefore selects exactly the paid-plan customers.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from polar_mcp.demo.catalogue import BENEFITS, Catalogue, catalogue, sample_products
from polar_mcp.demo.periods import anchor_of
from polar_mcp.demo.subscriptions import (
    ACTIVE_STATUSES,
    STATE_STATUSES,
    SubscriptionRecord,
    customer_subscriptions,
    state_subscription,
)

if TYPE_CHECKING:
    from polar_mcp.demo.ledger import SampleBilling

__all__ = [
    "ACTIVE_STATUSES",
    "STATE_STATUSES",
    "BillingHoldings",
    "DerivedHoldings",
    "Holdings",
    "holdings_from",
    "holdings_of",
    "sample_holdings",
    "sample_products",
]

_BENEFITS = {benefit.key: benefit for benefit in BENEFITS}


class Holdings(TypedDict):
    """One customer's billing: every subscription (any status), active benefit grants, active meters."""

    subscriptions: list[dict[str, Any]]
    granted_benefits: list[dict[str, Any]]
    active_meters: list[dict[str, Any]]


def holdings_from(customer: dict[str, Any], records: list[SubscriptionRecord], found: Catalogue) -> Holdings:
    """A customer's holdings from their subscription records."""
    rng = random.Random(f"grants:{customer['id']}")
    grants: dict[str, dict[str, Any]] = {}
    meters: list[dict[str, Any]] = []
    subscriptions = [state_subscription(record, found) for record in records]
    for record, subscription in zip(records, subscriptions, strict=True):
        if record.status not in STATE_STATUSES:
            continue
        for key in found.by_id[record.product_id].spec.benefits:
            grants.setdefault(key, _grant(rng, found, key, customer, subscription["started_at"]))
        for meter in subscription["meters"]:
            meters.append(
                {
                    "id": _uuid(rng),
                    "created_at": meter["created_at"],
                    "modified_at": meter["modified_at"],
                    "meter_id": meter["meter_id"],
                    "consumed_units": meter["consumed_units"],
                    "credited_units": meter["credited_units"],
                    "balance": meter["credited_units"] - meter["consumed_units"],
                }
            )
    return Holdings(subscriptions=subscriptions, granted_benefits=list(grants.values()), active_meters=meters)


def sample_holdings(customers: list[dict[str, Any]], as_of: datetime | None = None) -> dict[str, Holdings]:
    """Subscriptions, benefit grants and meters for each customer, keyed by customer ID."""
    anchor = anchor_of(as_of)
    return {customer["id"]: _derive(customer, anchor) for customer in customers}


def _derive(customer: dict[str, Any], anchor: datetime) -> Holdings:
    found = catalogue(customer["organization_id"])
    return holdings_from(customer, customer_subscriptions(customer, found, anchor), found)


class DerivedHoldings(dict[str, Holdings]):
    """`sample_holdings` of a list of customers, each derived on first use, so that a fake over thousands
    of customers starts at once. The list is read live: customers added later are found too."""

    def __init__(self, customers: list[dict[str, Any]], as_of: datetime | None = None) -> None:
        super().__init__()
        self._customers = customers
        self._anchor = anchor_of(as_of)
        self._by_id: dict[str, dict[str, Any]] = {}

    def __missing__(self, customer_id: str) -> Holdings:
        if customer_id not in self._by_id:
            self._by_id = {customer["id"]: customer for customer in self._customers}
        customer = self._by_id[customer_id]  # KeyError for an unknown customer, as a dict would
        holdings = _derive(customer, self._anchor)
        self[customer_id] = holdings
        return holdings


class BillingHoldings(dict[str, Holdings]):
    """The holdings of a given organization's billing (a benchmark's, say), each derived on first use."""

    def __init__(self, billing: SampleBilling) -> None:
        super().__init__()
        self._billing = billing
        self._grouped: dict[str, list[SubscriptionRecord]] | None = None

    def __missing__(self, customer_id: str) -> Holdings:
        customer = self._billing.customer(customer_id)
        if customer is None:
            raise KeyError(customer_id)
        if self._grouped is None:
            self._grouped = self._billing.subscriptions_by_customer()
        holdings = holdings_from(customer, self._grouped.get(customer_id, []), self._billing.catalogue)
        self[customer_id] = holdings
        return holdings


def holdings_of(holdings: dict[str, Holdings], customer_id: str) -> Holdings | None:
    """A customer's holdings, derived if need be; `None` for a customer without any."""
    try:
        return holdings[customer_id]
    except KeyError:
        return None


def _grant(
    rng: random.Random, found: Catalogue, key: str, customer: dict[str, Any], granted_at: str
) -> dict[str, Any]:
    benefit = _BENEFITS[key]
    return {
        "id": _uuid(rng),
        "created_at": granted_at,
        "modified_at": None,
        "granted_at": granted_at,
        "benefit_id": found.benefit_ids[key],
        "benefit_type": benefit.type,
        "benefit_metadata": {},
        "properties": _properties(rng, benefit.type, customer),
    }


def _properties(rng: random.Random, kind: str, customer: dict[str, Any]) -> dict[str, Any]:
    snowflake = str(rng.randint(10**17, 10**18 - 1))
    if kind == "license_keys":
        return {"license_key_id": _uuid(rng), "display_key": f"****-{rng.getrandbits(24):06X}"}
    if kind == "downloadables":
        return {"files": [_uuid(rng) for _ in range(rng.randint(1, 3))]}
    if kind == "discord":
        return {
            "account_id": snowflake,
            "guild_id": "1054029390286147594",
            "role_id": "1054029390286147595",
            "granted_account_id": snowflake,
        }
    if kind == "github_repository":
        return {
            "account_id": None,
            "repository_owner": "polar-demo",
            "repository_name": "pro-templates",
            "permission": "pull",
            "granted_account_id": str(rng.randint(10**6, 10**8)),
        }
    if kind == "slack_shared_channel":
        return {
            "invited_email": customer.get("email") or "billing@example.com",
            "channel_id": f"C{rng.getrandbits(40):010X}",
            "channel_name": "support-shared",
        }
    if kind == "course_access":
        return {"course_ids": [_uuid(rng)]}
    return {}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
