"""Money rules of the sample organization, in one place: exchange rates, tax rates, Polar's fee and rounding.

Amounts are integers in the currency's minor unit, as Polar stores them; yen and won have none, so
3000 jpy is ¥3,000. Polar settles in US dollars: its metrics convert every other currency to US cents
at the payment's exchange rate. The fake uses the fixed rates below instead of market rates, so that the
demo's figures are reproducible.

Polar's platform fee (`server/polar/models/account.py`, `config.py`, `transaction/service/platform_fee.py`):
5% of the payment's total (tax included) in settlement currency plus 50 cents, rounded half away from
zero, and another 1.5% for a card issued outside the US (here: a billing country other than the US).
The default subscription fee is 0 basis points. Orders with nothing to pay have no payment and no fee.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

__all__ = [
    "EXCHANGE_RATES",
    "FEE_BASIS_POINTS",
    "FEE_FIXED",
    "INTERNATIONAL_FEE",
    "TAX_BASIS_POINTS",
    "platform_fee",
    "polar_round",
    "tax_basis_points",
    "to_usd_cents",
]

EXCHANGE_RATES: dict[str, Decimal] = {
    "usd": Decimal(1),
    "eur": Decimal("1.08"),  # one euro cent is 1.08 US cents
    "gbp": Decimal("1.27"),
    "jpy": Decimal("0.67"),  # one yen (jpy has no minor unit) is 0.67 US cents
}
"""US cents per minor unit of each currency the sample organization sells in."""

FEE_BASIS_POINTS = 500
FEE_FIXED = 50
INTERNATIONAL_FEE = 0.015

# Sales tax or VAT by billing country (US and Canada by state), in basis points of the net amount.
TAX_BASIS_POINTS: dict[str, int] = {
    "DE": 1900,
    "FR": 2000,
    "ES": 2100,
    "PL": 2300,
    "SE": 2500,
    "GR": 2400,
    "GB": 2000,
    "JP": 1000,
    "KR": 1000,
    "IN": 1800,
    "US-CA": 725,
    "CA-QC": 1498,
}
_EU = {"DE", "FR", "ES", "PL", "SE", "GR"}


def polar_round(number: float | Decimal) -> int:
    """Round to the nearest integer, .5 away from zero (Polar's `polar_round`)."""
    if number >= 0:
        return math.ceil(number) if number - int(number) >= 0.5 else math.floor(number)
    return math.floor(number) if number - int(number) <= -0.5 else math.ceil(number)


def to_usd_cents(amount: int, currency: str) -> int:
    """`amount` (minor units of `currency`) in US cents at the fixed rate, rounded half away from zero."""
    if currency == "usd":
        return amount
    return polar_round(amount * EXCHANGE_RATES[currency])


def tax_basis_points(billing_address: dict[str, Any] | None, tax_id: Any) -> int:
    """The tax rate for a customer: by country (US and Canada by state); none without an address, and
    none for an EU business with a tax ID (reverse charge)."""
    if not billing_address:
        return 0
    country = billing_address.get("country")
    if country in _EU and tax_id:
        return 0
    state = billing_address.get("state")
    if country in ("US", "CA"):
        return TAX_BASIS_POINTS.get(str(state), 0)
    return TAX_BASIS_POINTS.get(str(country), 0)


def platform_fee(total_usd_cents: int, country: str | None) -> int:
    """Polar's fee on a payment of `total_usd_cents` (tax included), in US cents."""
    if total_usd_cents <= 0:
        return 0
    fee = polar_round(total_usd_cents * (FEE_BASIS_POINTS / 10_000) + FEE_FIXED)
    if country is not None and country != "US":
        international = total_usd_cents * INTERNATIONAL_FEE
        fee += math.ceil(international) if international - int(international) >= 0.5 else int(international)
    return fee
