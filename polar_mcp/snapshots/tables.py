"""The snapshot's four tables: their columns (part of `query_customers`' contract), how each is created,
filled and indexed, and how billing rows are linked to their customer and product.

The exports carry no IDs: a subscription or order is linked to its customer by email, compared without
case, and to its product by name, and only where exactly one customer or product matches; elsewhere
(a team customer without email, two products of one name, a customer since deleted) the ID stays NULL.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from polar_mcp.polar.billing_export import ORDER_COLUMNS, SUBSCRIPTION_COLUMNS
from polar_mcp.polar.export import COLUMNS as CUSTOMER_COLUMNS
from polar_mcp.polar.export import utc_text

__all__ = [
    "BILLING_TABLES",
    "TABLES",
    "TABLE_NAMES",
    "Table",
    "create_empty",
    "link",
    "product_row",
    "unlinked",
]

PRODUCT_COLUMNS = (
    "id",
    "name",
    "recurring_interval",
    "interval_count",
    "is_archived",
    "created_at",
    "prices",
)
_INTEGERS = frozenset(
    {
        "amount",
        "net_amount",
        "interval_count",
        "seats",
        "cancel_at_period_end",
        "subtotal_amount",
        "discount_amount",
        "tax_amount",
        "total_amount",
        "refunded_amount",
        "is_archived",
    }
)


@dataclass(frozen=True)
class Table:
    """One table of the snapshot."""

    name: str
    columns: tuple[str, ...]
    indexed: tuple[str, ...]
    scope: str
    """The token scope its source needs."""
    key: str | None = None
    """A column no two rows share (a repeat is counted once)."""

    def create(self, name: str | None = None) -> str:
        columns = ", ".join(
            f"{column} INTEGER" if column in _INTEGERS else f"{column} TEXT" for column in self.columns
        )
        if self.key is not None:
            columns = columns.replace(f"{self.key} TEXT", f"{self.key} TEXT NOT NULL PRIMARY KEY", 1)
        return f"CREATE TABLE {name or self.name} ({columns})"

    def insert(self, name: str | None = None) -> str:
        verb = "INSERT OR IGNORE" if self.key is not None else "INSERT"
        return f"{verb} INTO {name or self.name} VALUES ({', '.join('?' for _ in self.columns)})"

    def indexes(self) -> list[str]:
        """One index per entry of `indexed`: a column, or columns joined by `+` (then the first names it)."""
        return [
            f"CREATE INDEX {self.name}_{entry.split('+')[0]} ON {self.name} ({', '.join(entry.split('+'))})"
            for entry in self.indexed
        ]


CUSTOMERS = Table(
    "customers",
    CUSTOMER_COLUMNS,
    ("country", "created_at", "email_domain", "email", "external_id"),
    "customers:read",
    key="id",
)
SUBSCRIPTIONS = Table(
    "subscriptions",
    SUBSCRIPTION_COLUMNS,
    ("customer_id", "product_id", "status", "current_period_end", "canceled_at"),
    "subscriptions:read",
)
# By customer, covering what is paid: "best customers by amount paid" reads the index alone.
ORDERS = Table(
    "orders",
    ORDER_COLUMNS,
    ("customer_id+currency+net_amount+refunded_amount", "product_id", "created_at", "status"),
    "orders:read",
)
PRODUCTS = Table("products", PRODUCT_COLUMNS, ("name",), "products:read", key="id")

TABLES: dict[str, Table] = {table.name: table for table in (CUSTOMERS, SUBSCRIPTIONS, ORDERS, PRODUCTS)}
TABLE_NAMES: tuple[str, ...] = tuple(TABLES)
BILLING_TABLES = ("subscriptions", "orders")
"""The tables linked to customers and products."""


def create_empty(conn: sqlite3.Connection) -> None:
    """Every table, empty: a statement can be compiled against any of them before it is loaded."""
    for table in TABLES.values():
        conn.execute(table.create())


def product_row(product: dict[str, Any]) -> tuple[Any, ...]:
    """A product of `GET /v1/products/` as a row of the `products` table; `prices` as compact JSON."""
    prices = []
    for price in product.get("prices") or []:
        if isinstance(price, dict):
            amount = price.get("price_amount", price.get("minimum_amount", price.get("unit_amount")))
            prices.append(
                {
                    "amount_type": price.get("amount_type"),
                    "amount": amount,
                    "currency": price.get("price_currency"),
                }
            )
    interval = product.get("recurring_interval")
    return (
        product.get("id"),
        product.get("name"),
        interval,
        product.get("recurring_interval_count") or (1 if interval else None),
        1 if product.get("is_archived") else 0,
        utc_text(product.get("created_at")),
        json.dumps(prices, ensure_ascii=False, separators=(",", ":")),
    )


def link(conn: sqlite3.Connection, tables: Sequence[str]) -> None:
    """Fill `customer_id` and `product_id` of the loaded billing `tables` where one match is unique."""
    conn.execute(
        "CREATE TEMP TABLE link_emails AS SELECT lower(email) AS email, MIN(id) AS id FROM customers "
        "WHERE email IS NOT NULL GROUP BY 1 HAVING COUNT(*) = 1"
    )
    conn.execute(
        "CREATE TEMP TABLE link_names AS SELECT name, MIN(id) AS id FROM products "
        "WHERE name IS NOT NULL GROUP BY 1 HAVING COUNT(*) = 1"
    )
    conn.execute("CREATE INDEX temp.link_emails_email ON link_emails (email)")
    conn.execute("CREATE INDEX temp.link_names_name ON link_names (name)")
    try:
        for table in tables:
            conn.execute(
                f"UPDATE {table} SET customer_id = "
                f"(SELECT id FROM link_emails WHERE link_emails.email = lower({table}.email)), "
                f"product_id = (SELECT id FROM link_names WHERE link_names.name = {table}.product)"
            )
    finally:
        conn.execute("DROP TABLE temp.link_emails")
        conn.execute("DROP TABLE temp.link_names")


def unlinked(conn: sqlite3.Connection, table: str) -> tuple[int, int]:
    """Rows of a billing table without a `customer_id`, and without a `product_id`."""
    row = conn.execute(
        f"SELECT COALESCE(SUM(customer_id IS NULL), 0), COALESCE(SUM(product_id IS NULL), 0) FROM {table}"
    ).fetchone()
    return int(row[0]), int(row[1])
