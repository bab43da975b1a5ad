"""One customer's card: Polar's customer state reduced to the records a model and a view need.

The state is read leniently, as the list is: fields may be absent or null, and benefit types newer
than this release pass through under their own name. Every string in it was cleaned
(`polar_mcp.text`) by the Polar client, the one boundary where upstream text comes in.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from polar_mcp.models import summarize, to_date
from polar_mcp.schema import text_when_set

__all__ = ["CUSTOMER_FIELDS", "CustomerCard", "build_card", "money", "price"]

MAX_CARD_ITEMS = 100  # of each list in a customer's state; a real customer has a handful
CUSTOMER_FIELDS = ("id", "name", "email", "external_id", "type", "country", "created_at", "metadata")
# Currencies whose smallest unit is the unit itself: 3000 jpy is ¥3,000, not ¥30.00.
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥"}


# The keys of each item are listed in the README; here only what a reader of the values must know.
CARD_SCHEMA_DESCRIPTION = (
    "Amounts in minor units, prices as text; benefits grouped by type; dates are UTC days."
)


class CustomerCard(BaseModel):
    """One customer's card: profile, active and trialing subscriptions, benefits by type, meters, notes."""

    model_config = ConfigDict(json_schema_extra={"description": CARD_SCHEMA_DESCRIPTION})

    # Plain objects documented once, above, in words: nested item schemas and a description per field
    # cost every conversation context and every client validation time, and the text carries the facts.
    customer: dict[str, Any]
    subscriptions: list[dict[str, Any]]
    benefits: list[dict[str, Any]]
    meters: list[dict[str, Any]]
    notes: list[str]
    notice: str | None = Field(default=None, json_schema_extra=text_when_set)


def build_card(
    state: dict[str, Any], product_names: dict[str, str], notes: list[str], notice: str | None = None
) -> dict[str, Any]:
    """The card as a dict (a `CustomerCard`)."""
    summary = summarize(state)
    customer = {name: summary.get(name) for name in CUSTOMER_FIELDS}
    notes = list(notes)
    subscriptions = [_subscription(s, product_names) for s in _bounded(state, "active_subscriptions", notes)]
    card: dict[str, Any] = {
        "customer": customer,
        "subscriptions": subscriptions,
        "benefits": _benefits(_bounded(state, "granted_benefits", notes)),
        "meters": [_meter(m) for m in _bounded(state, "active_meters", notes)],
        "notes": notes,
    }
    if notice is not None:
        card["notice"] = notice
    return card


def money(amount: int | float, currency: str) -> str:
    """`2000, "usd"` is `$20.00`; `3000, "jpy"` is `¥3,000`; unknown symbols read `12.00 CHF`."""
    code = currency.lower()
    digits = 0 if code in ZERO_DECIMAL else 2
    value = Decimal(str(amount)).scaleb(-digits)
    sign = "-" if value < 0 else ""
    text = f"{abs(value):,.{digits}f}"
    symbol = SYMBOLS.get(code)
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{text} {code.upper()}"


def price(amount: Any, currency: Any, interval: Any) -> str | None:
    """`$20.00/month`; `None` when Polar left out the amount or the currency."""
    if not isinstance(amount, int | float) or isinstance(amount, bool) or not isinstance(currency, str):
        return None
    text = money(amount, currency)
    return f"{text}/{interval}" if isinstance(interval, str) and interval else text


def _subscription(item: dict[str, Any], product_names: dict[str, str]) -> dict[str, Any]:
    product_id = item.get("product_id")
    return {
        "id": item.get("id"),
        "product_id": product_id,
        "product_name": product_names.get(product_id) if isinstance(product_id, str) else None,
        "status": item.get("status"),
        "amount": item.get("amount"),
        "currency": item.get("currency"),
        "recurring_interval": item.get("recurring_interval"),
        "price": price(item.get("amount"), item.get("currency"), item.get("recurring_interval")),
        "current_period_end": to_date(item.get("current_period_end")),
        "cancel_at_period_end": item.get("cancel_at_period_end") is True,
        "ends_at": to_date(item.get("ends_at")),
        "trial_end": to_date(item.get("trial_end")),
        "meters": [
            {
                "meter_id": meter.get("meter_id"),
                "consumed_units": meter.get("consumed_units"),
                "credited_units": meter.get("credited_units"),
                "amount": meter.get("amount"),
            }
            for meter in _dicts(item.get("meters"))
        ],
    }


def _benefits(grants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for grant in grants:
        kind = grant.get("benefit_type")
        item = {"benefit_id": grant.get("benefit_id"), "granted_at": to_date(grant.get("granted_at"))}
        groups.setdefault(kind if isinstance(kind, str) and kind else "unknown", []).append(item)
    result = []
    for kind, items in groups.items():
        dates = sorted(str(item["granted_at"]) for item in items if item["granted_at"])
        result.append(
            {
                "type": kind,
                "count": len(items),
                "first_granted_at": dates[0] if dates else None,
                "last_granted_at": dates[-1] if dates else None,
                "items": items,
            }
        )
    return result


def _meter(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "meter_id": item.get("meter_id"),
        "consumed_units": item.get("consumed_units"),
        "credited_units": item.get("credited_units"),
        "balance": item.get("balance"),
    }


def _bounded(state: dict[str, Any], key: str, notes: list[str]) -> list[dict[str, Any]]:
    """At most `MAX_CARD_ITEMS` of a list, whatever Polar (or something posing as it) sent."""
    items = _dicts(state.get(key))
    if len(items) > MAX_CARD_ITEMS:
        notes.append(f"Only the first {MAX_CARD_ITEMS} of {len(items)} {key.replace('_', ' ')} are shown.")
    return items[:MAX_CARD_ITEMS]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
