"""Money as people read it: minor units and a currency code written as `$20.00`, `¥3,000` or `12.00 CHF`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["ZERO_DECIMAL", "money", "price"]

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
