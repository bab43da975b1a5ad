"""The sample organization's catalogue: products, discounts, benefits and the meter, as Polar returns them.

The demo catalogue has monthly, quarterly, yearly and weekly plans in US dollars, euros, pounds and yen,
a metered add-on, one-time products, an archived plan that old subscriptions still use, and two
products both named "Team" (one in pounds, one in euros), so that linking an export row to a product
by name is ambiguous, as it is for real organizations. `catalogue(organization_id, products=40)` adds
generated products after the demo ones, for benchmarks. IDs derive from the organization ID only.
"""

from __future__ import annotations

import functools
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from polar_mcp.demo.money import polar_round
from polar_mcp.demo.periods import api_time

__all__ = [
    "BENEFITS",
    "DEMO_DISCOUNTS",
    "DEMO_PRODUCTS",
    "Benefit",
    "Catalogue",
    "CatalogueDiscount",
    "CatalogueProduct",
    "DiscountSpec",
    "ProductSpec",
    "catalogue",
    "discount_object",
    "meter_object",
    "order_product_object",
    "product_object",
    "sample_products",
]


@dataclass(frozen=True, slots=True)
class Benefit:
    """A benefit a product grants: its key in the catalogue, Polar's type, and a description."""

    key: str
    type: str
    description: str


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """What a product is, independent of any organization. `interval` `None` is a one-time product."""

    key: str
    name: str
    interval: str | None
    currency: str
    amount: int  # minor units; yen have none, so 3000 is ¥3,000
    benefits: tuple[str, ...] = ()
    interval_count: int = 1
    metered: bool = False
    archived: bool = False
    trial_days: int | None = None


@dataclass(frozen=True, slots=True)
class DiscountSpec:
    """A discount: a percentage (`basis_points`) or fixed `amounts` per currency, `once` or `forever`."""

    key: str
    name: str
    code: str | None
    duration: str
    basis_points: int | None = None
    amounts: tuple[tuple[str, int], ...] = ()

    def amount_off(self, amount: int, currency: str) -> int:
        """What the discount takes off `amount`, as Polar computes it (percentages rounded half up)."""
        if self.basis_points is not None:
            return polar_round(amount * (self.basis_points / 10_000))
        return min(dict(self.amounts).get(currency, 0), amount)


@dataclass(frozen=True, slots=True)
class CatalogueProduct:
    """A product of one organization: the spec with its IDs and creation time."""

    spec: ProductSpec
    id: str
    price_id: str
    created_at: datetime

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def recurring(self) -> bool:
        return self.spec.interval is not None


@dataclass(frozen=True, slots=True)
class CatalogueDiscount:
    """A discount of one organization."""

    spec: DiscountSpec
    id: str
    created_at: datetime


@dataclass(frozen=True)
class Catalogue:
    """One organization's products, discounts, benefit IDs and meter."""

    organization_id: str
    products: tuple[CatalogueProduct, ...]
    discounts: tuple[CatalogueDiscount, ...]
    benefit_ids: dict[str, str]
    meter_id: str
    meter_created_at: datetime

    @functools.cached_property
    def by_key(self) -> dict[str, CatalogueProduct]:
        return {product.key: product for product in self.products}

    @functools.cached_property
    def by_id(self) -> dict[str, CatalogueProduct]:
        return {product.id: product for product in self.products}

    @functools.cached_property
    def discount_by_key(self) -> dict[str, CatalogueDiscount]:
        return {discount.spec.key: discount for discount in self.discounts}

    @functools.cached_property
    def discount_by_id(self) -> dict[str, CatalogueDiscount]:
        return {discount.id: discount for discount in self.discounts}


BENEFITS = (
    Benefit("pro_license", "license_keys", "Pro license key"),
    Benefit("pro_downloads", "downloadables", "Pro templates"),
    Benefit("team_license", "license_keys", "Team license keys"),
    Benefit("team_discord", "discord", "Team Discord role"),
    Benefit("team_repo", "github_repository", "Private repository access"),
    Benefit("sso", "feature_flag", "SSO"),
    Benefit("support", "custom", "Priority support"),
    Benefit("slack", "slack_shared_channel", "Shared Slack channel"),
    Benefit("api_credits", "meter_credit", "10,000 API calls a month"),
    Benefit("sponsor_discord", "discord", "Sponsor Discord role"),
    # A benefit type newer than the API excerpt: clients must carry it through untouched.
    Benefit("academy", "course_access", "Academy courses"),
)
_PRO = ("pro_license", "pro_downloads")
_TEAM = ("team_license", "team_discord", "team_repo")
_FIRST_PRODUCTS = (
    ProductSpec("pro_monthly", "Pro Monthly", "month", "usd", 2000, _PRO, trial_days=14),
    ProductSpec("pro_yearly", "Pro Yearly", "year", "eur", 19000, _PRO, trial_days=14),
    ProductSpec("pro_japan", "Pro (Japan)", "month", "jpy", 3000, _PRO, trial_days=14),
    ProductSpec("team_monthly", "Team", "month", "gbp", 4900, _TEAM, trial_days=14),
    ProductSpec("team_japan", "Team (Japan)", "month", "jpy", 9800, _TEAM, trial_days=14),
    ProductSpec("team_yearly", "Team Yearly", "year", "usd", 49000, _TEAM, trial_days=14),
    ProductSpec(
        "enterprise",
        "Enterprise",
        "year",
        "usd",
        240000,
        ("team_license", "team_repo", "sso", "support", "slack", "academy"),
    ),
    ProductSpec("api_addon", "API Add-on", "month", "usd", 500, ("api_credits",), metered=True),
    ProductSpec("sponsor", "Sponsor", "week", "usd", 500, ("sponsor_discord",)),
)
_MORE_PRODUCTS = (
    ProductSpec(
        "pro_quarterly", "Pro Quarterly", "month", "usd", 5400, _PRO, interval_count=3, trial_days=14
    ),
    # The same name as `team_monthly`: only the currency tells them apart in an export.
    ProductSpec("team_eu", "Team", "month", "eur", 4500, _TEAM, trial_days=14),
    ProductSpec("pro_legacy", "Pro Monthly (2024)", "month", "usd", 1500, _PRO, archived=True),
    ProductSpec("template_pack", "Template Pack", None, "usd", 1900, ("pro_downloads",)),
    ProductSpec("lifetime", "Lifetime License", None, "usd", 29900, ("pro_license",)),
    ProductSpec("icon_set", "Icon Set", None, "eur", 900, ("pro_downloads",)),
    ProductSpec("workshop", "Workshop Ticket", None, "gbp", 12000),
    ProductSpec("starter_kit_japan", "Starter Kit (Japan)", None, "jpy", 4800, ("pro_downloads",)),
)
DEMO_PRODUCTS = _FIRST_PRODUCTS + _MORE_PRODUCTS
"""The demo organization's products, in catalogue order."""

DEMO_DISCOUNTS = (
    DiscountSpec("launch20", "Launch offer", "LAUNCH20", "forever", basis_points=2000),
    DiscountSpec("partner", "Partner program", None, "forever", basis_points=1000),
    DiscountSpec(
        "welcome5",
        "Welcome",
        "WELCOME5",
        "once",
        amounts=(("usd", 500), ("eur", 500), ("gbp", 400), ("jpy", 700)),
    ),
    DiscountSpec("spring10", "Spring sale", "SPRING10", "once", basis_points=1000),
)
"""Subscriptions use the `forever` discounts, one-time purchases the `once` ones."""

_CREATED = datetime(2023, 12, 1, 10, 0, 0, tzinfo=UTC)
_GENERATED_TIERS = ("Starter", "Growth", "Scale", "Studio", "Agency", "Creator", "Business", "Plus")
_GENERATED_CURRENCIES = (("usd", 1), ("eur", 1), ("gbp", 1), ("jpy", 150))


def catalogue(organization_id: str, products: int | None = None) -> Catalogue:
    """The organization's catalogue: the demo products, then generated ones up to `products` in all."""
    count = len(DEMO_PRODUCTS) if products is None else products
    if count < len(DEMO_PRODUCTS):
        raise ValueError(f"a catalogue has at least the {len(DEMO_PRODUCTS)} demo products, not {count}")
    return _catalogue(organization_id, count)


@functools.cache
def _catalogue(organization_id: str, count: int) -> Catalogue:
    # The first products keep the IDs they have always had: one generator for them, in this order.
    rng = random.Random(f"catalogue:{organization_id}")
    product_ids = [_uuid(rng) for _ in _FIRST_PRODUCTS]
    price_ids = [_uuid(rng) for _ in _FIRST_PRODUCTS]
    benefit_ids = {benefit.key: _uuid(rng) for benefit in BENEFITS}
    meter_id = _uuid(rng)
    more = random.Random(f"catalogue-more:{organization_id}")
    for _ in _MORE_PRODUCTS:
        product_ids.append(_uuid(more))
        price_ids.append(_uuid(more))
    specs = list(DEMO_PRODUCTS) + _generated_specs(count - len(DEMO_PRODUCTS))
    generated = random.Random(f"catalogue-generated:{organization_id}")
    while len(product_ids) < len(specs):
        product_ids.append(_uuid(generated))
        price_ids.append(_uuid(generated))
    items = tuple(
        CatalogueProduct(spec, product_ids[index], price_ids[index], _CREATED + timedelta(days=3 * index))
        for index, spec in enumerate(specs)
    )
    discount_rng = random.Random(f"discounts:{organization_id}")
    discounts = tuple(
        CatalogueDiscount(spec, _uuid(discount_rng), _CREATED + timedelta(days=40 + 30 * index))
        for index, spec in enumerate(DEMO_DISCOUNTS)
    )
    return Catalogue(organization_id, items, discounts, benefit_ids, meter_id, _CREATED)


def _generated_specs(count: int) -> list[ProductSpec]:
    specs = []
    for index in range(count):
        tier = _GENERATED_TIERS[index % len(_GENERATED_TIERS)]
        currency, factor = _GENERATED_CURRENCIES[index % len(_GENERATED_CURRENCIES)]
        number = index + 1
        kind = index % 10
        if kind in (3, 7, 9):  # three in ten are one-time
            specs.append(
                ProductSpec(
                    f"generated_{number}",
                    f"{tier} Pack {number}",
                    None,
                    currency,
                    900 * factor * (1 + index % 5),
                )
            )
            continue
        interval, interval_count = (
            ("year", 1) if kind in (1, 5) else ("month", 3) if kind == 8 else ("month", 1)
        )
        base = 1500 * (1 + index % 6)
        amount = base * 10 if interval == "year" else base * interval_count
        specs.append(
            ProductSpec(
                f"generated_{number}",
                f"{tier} {number}",
                interval,
                currency,
                amount * factor,
                _PRO if index % 2 else _TEAM,
                interval_count=interval_count,
                archived=index % 7 == 6,
                trial_days=14 if index % 3 == 0 else None,
            )
        )
    return specs


def product_object(product: CatalogueProduct, organization_id: str) -> dict[str, Any]:
    """The product as `GET /v1/products/` returns it: one fixed price, no benefits listed."""
    return {
        **order_product_object(product, organization_id),
        "prices": [
            {
                "created_at": api_time(product.created_at),
                "modified_at": None,
                "id": product.price_id,
                "source": "catalog",
                "amount_type": "fixed",
                "price_currency": product.spec.currency,
                "tax_behavior": None,
                "is_archived": False,
                "product_id": product.id,
                "price_amount": product.spec.amount,
            }
        ],
        "benefits": [],
        "medias": [],
        "attached_custom_fields": [],
    }


def order_product_object(product: CatalogueProduct, organization_id: str) -> dict[str, Any]:
    """The product as an order embeds it (`OrderProduct`): no prices, benefits or medias."""
    spec = product.spec
    return {
        "id": product.id,
        "created_at": api_time(product.created_at),
        "modified_at": api_time(product.created_at + timedelta(days=400)) if spec.archived else None,
        "trial_interval": "day" if spec.trial_days else None,
        "trial_interval_count": spec.trial_days,
        "name": spec.name,
        "description": None,
        "visibility": "public",
        "recurring_interval": spec.interval,
        "recurring_interval_count": spec.interval_count if spec.interval else None,
        "meter_interval": None,
        "meter_interval_count": None,
        "is_recurring": spec.interval is not None,
        "is_archived": spec.archived,
        "organization_id": organization_id,
        "metadata": {},
    }


def discount_object(
    discount: CatalogueDiscount, organization_id: str, redemptions: int = 0
) -> dict[str, Any]:
    """The discount as Polar embeds it in a subscription or an order."""
    spec = discount.spec
    body: dict[str, Any] = {
        "duration": spec.duration,
        "type": "percentage" if spec.basis_points is not None else "fixed",
    }
    if spec.basis_points is not None:
        body["basis_points"] = spec.basis_points
    else:
        amounts = dict(spec.amounts)
        first = next(iter(amounts))
        body.update({"amount": amounts[first], "currency": first, "amounts": amounts})
    return {
        **body,
        "created_at": api_time(discount.created_at),
        "modified_at": None,
        "id": discount.id,
        "metadata": {},
        "name": spec.name,
        "code": spec.code,
        "starts_at": None,
        "ends_at": None,
        "max_redemptions": None,
        "max_redemptions_per_customer": None,
        "redemptions_count": redemptions,
        "organization_id": organization_id,
    }


def meter_object(catalogue: Catalogue) -> dict[str, Any]:
    """The organization's one meter (API calls), as a subscription's meters embed it."""
    return {
        "metadata": {},
        "created_at": api_time(catalogue.meter_created_at),
        "modified_at": None,
        "id": catalogue.meter_id,
        "name": "API calls",
        "unit": "scalar",
        "custom_label": None,
        "custom_multiplier": None,
        "filter": {
            "conjunction": "and",
            "clauses": [{"property": "name", "operator": "eq", "value": "api_call"}],
        },
        "aggregation": {"func": "count"},
        "organization_id": catalogue.organization_id,
        "archived_at": None,
    }


def sample_products(organization_id: str, products: int | None = None) -> list[dict[str, Any]]:
    """The organization's products as `GET /v1/products/` returns them, archived ones included."""
    found = catalogue(organization_id, products)
    return [product_object(product, organization_id) for product in found.products]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
