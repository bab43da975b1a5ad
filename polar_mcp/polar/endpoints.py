"""The Polar operations this package calls, each with what a 404 means there and the scope it needs."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

__all__ = [
    "CUSTOMERS",
    "EXPORT",
    "EXPORT_TIME_FACTOR",
    "METRICS",
    "ORDERS_EXPORT",
    "PRODUCTS",
    "SUBSCRIPTIONS_EXPORT",
    "Endpoint",
    "customer_state_endpoint",
]

EXPORT_TIME_FACTOR = 4.0  # the export has 4 x POLAR_TIMEOUT (2 minutes by default) for its whole body


@dataclass(frozen=True)
class Endpoint:
    """One Polar operation as the error map needs to know it.

    `not_found` is what a 404 means here: for a lookup, that no such resource exists (the message to
    give); for a collection (`None`), that the base URL or the API version is wrong.
    """

    path: str
    scope: str = "customers:read"
    not_found: str | None = None
    time_factor: float = 1.0
    """An attempt here may take this many times `POLAR_TIMEOUT`, for a body far larger than a page."""


# The trailing slashes matter: without them Polar answers 307.
CUSTOMERS = Endpoint("/v1/customers/")
PRODUCTS = Endpoint("/v1/products/", scope="products:read")
# Every customer in one streamed body: a large organization's export takes far longer than a page.
EXPORT = Endpoint("/v1/customers/export", time_factor=EXPORT_TIME_FACTOR)
SUBSCRIPTIONS_EXPORT = Endpoint(
    "/v1/subscriptions/export", scope="subscriptions:read", time_factor=EXPORT_TIME_FACTOR
)
ORDERS_EXPORT = Endpoint("/v1/orders/export", scope="orders:read", time_factor=EXPORT_TIME_FACTOR)
METRICS = Endpoint("/v1/metrics/", scope="metrics:read")


def customer_state_endpoint(*, customer_id: str | None = None, external_id: str | None = None) -> Endpoint:
    """`/v1/customers/{id}/state` or `/v1/customers/external/{external_id}/state`, the ID percent-encoded."""
    if customer_id is not None:
        return Endpoint(
            f"/v1/customers/{quote(customer_id, safe='')}/state",
            not_found=f"no customer has ID {customer_id}",
        )
    if external_id is None:
        raise ValueError("give customer_id or external_id")
    # The seller's own ID may hold '/', '?', '#', spaces and non-ASCII: all of it goes in one segment.
    # `.` and `..` as a whole segment would be removed as dot segments and reach another path.
    segment = quote(external_id, safe="")
    if segment in (".", ".."):
        segment = segment.replace(".", "%2E")
    return Endpoint(
        f"/v1/customers/external/{segment}/state",
        not_found=f"no customer has external ID {external_id!r}",
    )
