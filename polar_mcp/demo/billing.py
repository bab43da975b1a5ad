"""The sample organization's billing: a small product catalogue, and each customer's subscriptions,
benefit grants and meters, shaped like Polar's customer state.

Everything derives from the customer's ID and metadata `plan`, so it is deterministic and does not
depend on how many customers were generated. Customers on a paid plan (`pro`, `team`, `enterprise`)
have at least one active, trialing or past-due subscription, the others none (some have a canceled
one): the list's `active` filter therefore selects exactly the paid-plan customers.
"""

from __future__ import annotations

import functools
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

__all__ = [
    "ACTIVE_STATUSES",
    "SAMPLE_AS_OF",
    "STATE_STATUSES",
    "DerivedHoldings",
    "Holdings",
    "holdings_of",
    "sample_holdings",
    "sample_products",
]

SAMPLE_AS_OF = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
"""The moment the sample billing describes: periods run across it, trials end after it."""

STATE_STATUSES = frozenset({"active", "trialing"})
"""Subscriptions Polar's customer state shows."""
ACTIVE_STATUSES = STATE_STATUSES | {"past_due"}
"""Subscriptions the list's `active=true` counts."""

PAID_PLANS = ("pro", "team", "enterprise")


class Holdings(TypedDict):
    """One customer's billing: every subscription (any status), active benefit grants, active meters."""

    subscriptions: list[dict[str, Any]]
    granted_benefits: list[dict[str, Any]]
    active_meters: list[dict[str, Any]]


@dataclass(frozen=True)
class _Benefit:
    key: str
    type: str
    description: str


@dataclass(frozen=True)
class _Product:
    key: str
    name: str
    interval: str
    currency: str
    amount: int  # minor units; yen have none, so 3000 is ¥3,000
    benefits: tuple[str, ...]
    metered: bool = False


_BENEFITS = (
    _Benefit("pro_license", "license_keys", "Pro license key"),
    _Benefit("pro_downloads", "downloadables", "Pro templates"),
    _Benefit("team_license", "license_keys", "Team license keys"),
    _Benefit("team_discord", "discord", "Team Discord role"),
    _Benefit("team_repo", "github_repository", "Private repository access"),
    _Benefit("sso", "feature_flag", "SSO"),
    _Benefit("support", "custom", "Priority support"),
    _Benefit("slack", "slack_shared_channel", "Shared Slack channel"),
    _Benefit("api_credits", "meter_credit", "10,000 API calls a month"),
    _Benefit("sponsor_discord", "discord", "Sponsor Discord role"),
    # A benefit type newer than the API excerpt: clients must carry it through untouched.
    _Benefit("academy", "course_access", "Academy courses"),
)
_PRODUCTS = (
    _Product("pro_monthly", "Pro Monthly", "month", "usd", 2000, ("pro_license", "pro_downloads")),
    _Product("pro_yearly", "Pro Yearly", "year", "eur", 19000, ("pro_license", "pro_downloads")),
    _Product("pro_japan", "Pro (Japan)", "month", "jpy", 3000, ("pro_license", "pro_downloads")),
    _Product("team_monthly", "Team", "month", "gbp", 4900, ("team_license", "team_discord", "team_repo")),
    _Product(
        "team_japan", "Team (Japan)", "month", "jpy", 9800, ("team_license", "team_discord", "team_repo")
    ),
    _Product(
        "team_yearly", "Team Yearly", "year", "usd", 49000, ("team_license", "team_discord", "team_repo")
    ),
    _Product(
        "enterprise",
        "Enterprise",
        "year",
        "usd",
        240000,
        ("team_license", "team_repo", "sso", "support", "slack", "academy"),
    ),
    _Product("api_addon", "API Add-on", "month", "usd", 500, ("api_credits",), metered=True),
    _Product("sponsor", "Sponsor", "week", "usd", 500, ("sponsor_discord",)),
)
_PLAN_PRODUCTS = {
    "pro": ("pro_monthly", "pro_monthly", "pro_yearly"),
    "team": ("team_monthly", "team_yearly"),
    "enterprise": ("enterprise",),
}
_ADDON_SHARE = {"pro": 0.4, "team": 0.3, "enterprise": 0.6}
_METER_CREDIT = 10_000
_INTERVAL_DAYS = {"day": 1, "week": 7}


@dataclass(frozen=True)
class _Catalogue:
    organization_id: str
    product_ids: dict[str, str]
    price_ids: dict[str, str]
    benefit_ids: dict[str, str]
    meter_id: str


@functools.cache
def _catalogue(organization_id: str) -> _Catalogue:
    rng = random.Random(f"catalogue:{organization_id}")
    return _Catalogue(
        organization_id=organization_id,
        product_ids={product.key: _uuid(rng) for product in _PRODUCTS},
        price_ids={product.key: _uuid(rng) for product in _PRODUCTS},
        benefit_ids={benefit.key: _uuid(rng) for benefit in _BENEFITS},
        meter_id=_uuid(rng),
    )


def sample_products(organization_id: str) -> list[dict[str, Any]]:
    """The organization's products as `GET /v1/products/` returns them, one fixed price each."""
    catalogue = _catalogue(organization_id)
    created = datetime(2023, 12, 1, 10, 0, 0, tzinfo=UTC)
    products: list[dict[str, Any]] = []
    for product in _PRODUCTS:
        product_id = catalogue.product_ids[product.key]
        price_id = catalogue.price_ids[product.key]
        products.append(
            {
                "id": product_id,
                "created_at": _iso(created),
                "modified_at": None,
                "trial_interval": "day" if product.key.startswith("pro") else None,
                "trial_interval_count": 14 if product.key.startswith("pro") else None,
                "name": product.name,
                "description": None,
                "visibility": "public",
                "recurring_interval": product.interval,
                "recurring_interval_count": 1,
                "meter_interval": None,
                "meter_interval_count": None,
                "is_recurring": True,
                "is_archived": False,
                "organization_id": organization_id,
                "metadata": {},
                "prices": [
                    {
                        "created_at": _iso(created),
                        "modified_at": None,
                        "id": price_id,
                        "source": "catalog",
                        "amount_type": "fixed",
                        "price_currency": product.currency,
                        "tax_behavior": None,
                        "is_archived": False,
                        "product_id": product_id,
                        "price_amount": product.amount,
                    }
                ],
                "benefits": [],
                "medias": [],
                "attached_custom_fields": [],
            }
        )
    return products


def sample_holdings(customers: list[dict[str, Any]]) -> dict[str, Holdings]:
    """Subscriptions, benefit grants and meters for each customer, keyed by customer ID."""
    return {
        customer["id"]: _holdings(customer, _catalogue(customer["organization_id"])) for customer in customers
    }


class DerivedHoldings(dict[str, Holdings]):
    """`sample_holdings` of a list of customers, each derived on first use, so that a fake over thousands
    of customers starts at once. The list is read live: customers added later are found too."""

    def __init__(self, customers: list[dict[str, Any]]) -> None:
        super().__init__()
        self._customers = customers
        self._by_id: dict[str, dict[str, Any]] = {}

    def __missing__(self, customer_id: str) -> Holdings:
        if customer_id not in self._by_id:
            self._by_id = {customer["id"]: customer for customer in self._customers}
        customer = self._by_id[customer_id]  # KeyError for an unknown customer, as a dict would
        holdings = _holdings(customer, _catalogue(customer["organization_id"]))
        self[customer_id] = holdings
        return holdings


def holdings_of(holdings: dict[str, Holdings], customer_id: str) -> Holdings | None:
    """A customer's holdings, derived if need be; `None` for a customer without any."""
    try:
        return holdings[customer_id]
    except KeyError:
        return None


def _holdings(customer: dict[str, Any], catalogue: _Catalogue) -> Holdings:
    rng = random.Random(f"holdings:{customer['id']}")
    plan = (customer.get("metadata") or {}).get("plan")
    created = _parse(customer["created_at"])
    products = {product.key: product for product in _PRODUCTS}
    if plan not in PAID_PLANS:
        # Some free customers once paid: a canceled subscription counts nowhere.
        old = [_subscription(rng, catalogue, products["pro_monthly"], "canceled", created)]
        return Holdings(
            subscriptions=old if rng.random() < 0.25 else [], granted_benefits=[], active_meters=[]
        )
    main_key = rng.choice(_PLAN_PRODUCTS[str(plan)])
    country = (customer.get("billing_address") or {}).get("country")
    if plan in ("pro", "team") and country == "JP":
        main_key = f"{plan}_japan"
    chosen = [products[main_key]]
    if products[main_key].currency == "usd" and rng.random() < _ADDON_SHARE[str(plan)]:
        chosen.append(products["api_addon"])
    if plan == "pro" and rng.random() < 0.15:
        chosen.append(products["sponsor"])
    roll = rng.random()
    status = "active" if roll < 0.7 else "trialing" if roll < 0.85 else "past_due"
    subscriptions = []
    for index, product in enumerate(chosen):
        # Add-ons are bought later and are never on trial; a past-due customer is past due on all.
        sub_status = status if index == 0 or status == "past_due" else "active"
        subscriptions.append(_subscription(rng, catalogue, product, sub_status, created))
    grants: dict[str, dict[str, Any]] = {}
    meters: list[dict[str, Any]] = []
    for product, subscription in zip(chosen, subscriptions, strict=True):
        if subscription["status"] not in STATE_STATUSES:
            continue
        for key in product.benefits:
            grants.setdefault(key, _grant(rng, catalogue, key, customer, subscription["started_at"]))
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


def _subscription(
    rng: random.Random, catalogue: _Catalogue, product: _Product, status: str, created: datetime
) -> dict[str, Any]:
    started = created + timedelta(days=rng.randint(0, 60), minutes=rng.randint(0, 1440))
    # A recent signup subscribed at once: nothing starts after the day the sample describes.
    started = max(created, min(started, SAMPLE_AS_OF - timedelta(hours=1)))
    trial_start = trial_end = canceled_at = ends_at = None
    cancel_at_period_end = False
    if status == "trialing":
        started = SAMPLE_AS_OF - timedelta(days=rng.randint(1, 13), minutes=rng.randint(0, 1440))
        trial_start, trial_end = started, started + timedelta(days=14)
        period_start, period_end = trial_start, trial_end
    elif status == "canceled":
        period_start, period_end = started, _advance(started, product.interval)
        canceled_at = ends_at = period_end
    else:
        period_start = started
        while _advance(period_start, product.interval) <= SAMPLE_AS_OF:
            period_start = _advance(period_start, product.interval)
        period_end = _advance(period_start, product.interval)
        if status == "active" and rng.random() < 0.2:
            cancel_at_period_end = True
            canceled_at = min(SAMPLE_AS_OF, period_start + timedelta(days=rng.randint(1, 5)))
            ends_at = period_end
    meters = []
    if product.metered and status in STATE_STATUSES:
        consumed = float(rng.randint(0, 15_000))
        meters.append(
            {
                "created_at": _iso(started),
                "modified_at": _iso(SAMPLE_AS_OF),
                "id": _uuid(rng),
                "consumed_units": consumed,
                "credited_units": _METER_CREDIT,
                "amount": max(0, int(consumed) - _METER_CREDIT) // 10,  # $0.001 a call beyond the credit
                "meter_id": catalogue.meter_id,
            }
        )
    return {
        "id": _uuid(rng),
        "created_at": _iso(started),
        "modified_at": _iso(canceled_at) if canceled_at else None,
        "custom_field_data": {},
        "metadata": {},
        "status": status,
        "amount": product.amount,
        "currency": product.currency,
        "recurring_interval": product.interval,
        "current_period_start": _iso(period_start),
        "current_period_end": _iso(period_end),
        "trial_start": _iso(trial_start) if trial_start else None,
        "trial_end": _iso(trial_end) if trial_end else None,
        "cancel_at_period_end": cancel_at_period_end,
        "canceled_at": _iso(canceled_at) if canceled_at else None,
        "started_at": _iso(started),
        "ends_at": _iso(ends_at) if ends_at else None,
        "product_id": catalogue.product_ids[product.key],
        "discount_id": _uuid(rng) if rng.random() < 0.1 else None,
        "meters": meters,
    }


def _grant(
    rng: random.Random, catalogue: _Catalogue, key: str, customer: dict[str, Any], granted_at: str
) -> dict[str, Any]:
    benefit = next(b for b in _BENEFITS if b.key == key)
    return {
        "id": _uuid(rng),
        "created_at": granted_at,
        "modified_at": None,
        "granted_at": granted_at,
        "benefit_id": catalogue.benefit_ids[key],
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


def _advance(moment: datetime, interval: str) -> datetime:
    if interval in _INTERVAL_DAYS:
        return moment + timedelta(days=_INTERVAL_DAYS[interval])
    months = 12 if interval == "year" else 1
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, 28))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
