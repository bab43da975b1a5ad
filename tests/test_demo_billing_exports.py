"""The fake's subscriptions and orders exports are written as Polar's export code writes them."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar, Grant, asgi_app
from polar_mcp.demo.fake_billing_export import (
    ORDER_COLUMNS,
    ORDER_DEFAULT_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    SUBSCRIPTION_DEFAULT_COLUMNS,
)
from polar_mcp.demo.fake_export import EXPORT_HEADER
from polar_mcp.demo.ledger import SampleBilling, demo_billing, sample_billing
from polar_mcp.demo.organization import demo_customers, sample_customers
from tests.conftest import DATA

OPENAPI = json.loads((DATA / "billing-read.openapi.json").read_text())
AS_OF = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
DEMO = demo_customers()
ORG = DEMO[0]["organization_id"]
FOREIGN_ORG = "0b8e1d0a-4f7c-4a53-9d5e-3f2f4d9b6c11"
SUBSCRIPTIONS = "/v1/subscriptions/export"
ORDERS = "/v1/orders/export"
SCHEMAS = OPENAPI["components"]["schemas"]


def _validator(name: str) -> jsonschema.Draft202012Validator:
    resource = Resource.from_contents(OPENAPI, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("openapi.json", resource)
    return jsonschema.Draft202012Validator(
        {"$ref": f"openapi.json#/components/schemas/{name}"}, registry=registry
    )


VALIDATION_ERROR = _validator("HTTPValidationError")


def fake() -> FakePolar:
    return FakePolar(DEMO, as_of=AS_OF)


def get(target: FakePolar, path: str, params: Any = None, token: str = DEFAULT_TOKEN) -> httpx.Response:
    with httpx.Client(transport=httpx.MockTransport(target), base_url="https://api.polar.sh") as client:
        return client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})


def rows(response: httpx.Response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.text)))


def cells(response: httpx.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


def columns(*names: str) -> list[tuple[str, str | int | float | bool | None]]:
    return [("columns", name) for name in names]


def test_the_fake_serves_the_excerpts_export_columns_and_parameters() -> None:
    assert list(SUBSCRIPTION_COLUMNS) == SCHEMAS["SubscriptionExportColumn"]["enum"]
    assert list(ORDER_COLUMNS) == SCHEMAS["OrderExportColumn"]["enum"]
    for path, served in (
        (
            SUBSCRIPTIONS,
            {
                "organization_id",
                "product_id",
                "status",
                "cancel_at_period_end",
                "started_after",
                "started_before",
            },
        ),
        (ORDERS, {"organization_id", "product_id", "status", "created_after", "created_before"}),
    ):
        names = {p["name"] for p in OPENAPI["paths"][path]["get"]["parameters"]}
        assert names == served | {"timezone", "columns"}
        assert set(OPENAPI["paths"][path]["get"]["responses"]["200"]["content"]) == {"text/csv"}


@pytest.mark.parametrize(
    ("path", "header"),
    [
        (
            SUBSCRIPTIONS,
            ["Email", "Started At", "Product", "Amount", "Currency", "Status", "Billing Interval"],
        ),
        (ORDERS, ["Email", "Created At", "Product", "Net Amount", "Currency", "Status", "Invoice number"]),
    ],
)
def test_without_columns_the_default_set_and_a_csv_attachment(path: str, header: list[str]) -> None:
    response = get(fake(), path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    stem = "polar-subscriptions" if path == SUBSCRIPTIONS else "polar-orders"
    assert response.headers["content-disposition"] == f'attachment; filename="{stem}.csv"'
    assert rows(response)[0] == header
    defaults = SUBSCRIPTION_DEFAULT_COLUMNS if path == SUBSCRIPTIONS else ORDER_DEFAULT_COLUMNS
    assert rows(get(fake(), path, columns(*defaults))) == rows(response)
    assert response.content.count(b"\r\n") == len(rows(response))  # excel dialect: CRLF line ends


@pytest.mark.parametrize(("path", "every"), [(SUBSCRIPTIONS, SUBSCRIPTION_COLUMNS), (ORDERS, ORDER_COLUMNS)])
def test_columns_come_in_the_order_asked(path: str, every: dict[str, str]) -> None:
    chosen = list(reversed(every))
    response = get(fake(), path, columns(*chosen))
    assert rows(response)[0] == [every[c] for c in chosen]
    assert rows(get(fake(), path, columns("currency", "email")))[0] == ["Currency", "Email"]
    headers = set(every.values())
    assert {"Cancels At Period End", "Current Period End", "Billing Interval"} <= headers or {
        "Invoice number",
        "Subtotal",
        "Refunded Amount",
    } <= headers


def _iso(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat() if moment else ""


def _money(amount: int) -> str:
    return repr(amount / 100)


def test_every_subscription_row_is_what_polars_writer_writes_in_the_time_zone() -> None:
    tz = ZoneInfo("America/New_York")
    target = fake()
    billing = target.billing
    response = get(target, SUBSCRIPTIONS, [*columns(*SUBSCRIPTION_COLUMNS), ("timezone", "America/New_York")])
    found = cells(response)
    started = [r for r in billing.subscriptions if r.started_at is not None]
    assert len(found) == len(started)
    by_customer = {c["id"]: c for c in DEMO}
    expected = []
    for record in sorted(started, key=lambda r: (r.started_at or AS_OF, r.id), reverse=True):
        customer = by_customer[record.customer_id]
        product = billing.catalogue.by_id[record.product_id]
        discount = billing.catalogue.discount_by_id.get(record.discount_id or "")
        count = record.recurring_interval_count
        expected.append(
            {
                "Email": customer["email"] or "",
                "Started At": _iso(record.started_at, tz),
                "Product": product.name,
                "Amount": _money(record.amount),
                "Currency": record.currency,
                "Status": record.status,
                "Billing Interval": record.recurring_interval
                if count == 1
                else f"{count} {record.recurring_interval}s",
                "Customer Name": customer["name"] or "",
                "Billing Name": customer["billing_name"] or customer["name"] or "",
                "Billing Country": (customer["billing_address"] or {}).get("country") or "",
                "Net Amount": _money(record.net_amount),
                "Discount": (discount.spec.code or discount.spec.name) if discount else "",
                "Seats": "",
                "Current Period Start": _iso(record.current_period_start, tz),
                "Current Period End": _iso(record.current_period_end, tz),
                "Cancels At Period End": "true" if record.cancel_at_period_end else "false",
                "Canceled At": _iso(record.canceled_at, tz),
                "Ends At": _iso(record.ends_at, tz),
                "Ended At": _iso(record.ended_at, tz),
                "Cancellation Reason": record.customer_cancellation_reason or "",
                "Trial Start": _iso(record.trial_start, tz),
                "Trial End": _iso(record.trial_end, tz),
            }
        )
    assert found == expected
    assert {row["Billing Interval"] for row in found} >= {"month", "year", "3 months", "week"}
    assert any(row["Started At"].endswith("-05:00") for row in found)
    assert any(row["Started At"].endswith("-04:00") for row in found)  # summer time in New York
    assert any(row["Email"] == "" for row in found)  # team customers without email
    assert any(row["Discount"] == "LAUNCH20" for row in found) and any(
        row["Discount"] == "Partner program" for row in found
    )


def test_every_order_row_is_what_polars_writer_writes() -> None:
    target = fake()
    billing = target.billing
    found = cells(get(target, ORDERS, columns(*ORDER_COLUMNS)))
    assert len(found) == len(billing.orders)
    by_customer = {c["id"]: c for c in DEMO}
    expected = []
    for order in sorted(billing.orders, key=lambda o: (o.created_at, o.id), reverse=True):
        product = billing.catalogue.by_id[order.product_id or ""]
        expected.append(
            {
                "Email": by_customer[order.customer_id]["email"] or "",
                "Created At": order.created_at.isoformat(),
                "Product": product.name,
                "Net Amount": _money(order.net_amount),
                "Currency": order.currency,
                "Status": order.status,
                "Invoice number": order.invoice_number or "",
                "Customer Name": by_customer[order.customer_id]["name"] or "",
                "Billing Name": order.billing_name or "",
                "Billing Country": (order.billing_address or {}).get("country") or "",
                "Subtotal": _money(order.subtotal_amount),
                "Discount": _money(order.discount_amount),
                "Tax": _money(order.tax_amount),
                "Total": _money(order.total_amount),
                "Refunded Amount": _money(order.refunded_amount),
                "Billing Reason": order.billing_reason,
            }
        )
    assert found == expected
    assert {row["Status"] for row in found} >= {"paid", "refunded", "partially_refunded", "pending"}
    assert {row["Billing Reason"] for row in found} == {
        "purchase",
        "subscription_create",
        "subscription_cycle",
    }
    assert found[0]["Created At"].endswith("+00:00")


def test_amounts_are_polars_integer_over_100_also_for_yen() -> None:
    found = cells(get(fake(), SUBSCRIPTIONS, columns("product", "amount", "currency")))
    japan = {row["Amount"] for row in found if row["Currency"] == "jpy"}
    assert japan <= {"30.0", "98.0"} and japan  # ¥3,000 and ¥9,800
    assert "20.0" in {row["Amount"] for row in found if row["Product"] == "Pro Monthly"}
    orders = cells(get(fake(), ORDERS, columns("net_amount", "tax_amount", "total_amount")))
    assert any("." in row["Tax"] and not row["Tax"].endswith(".0") for row in orders)


def test_the_product_column_is_a_name_and_two_products_share_one() -> None:
    found = cells(get(fake(), SUBSCRIPTIONS, columns("product", "currency")))
    assert {row["Currency"] for row in found if row["Product"] == "Team"} == {"gbp", "eur"}
    assert any(row["Product"] == "Pro Monthly (2024)" for row in found)  # the archived plan


def test_subscriptions_that_never_started_are_not_exported() -> None:
    target = fake()
    billing = target.billing
    never = dataclasses.replace(
        billing.subscriptions[0], id="4f6c1c8e-5d2a-4b7e-9c3d-2a1b0c9d8e7f", started_at=None
    )
    target.billing = SampleBilling(
        billing.anchor, billing.catalogue, DEMO, [*billing.subscriptions, never], billing.orders
    )
    found = rows(get(target, SUBSCRIPTIONS))
    assert len(found) - 1 == len(billing.subscriptions)


def test_filters_by_product_status_cancellation_and_start() -> None:
    target = fake()
    billing = target.billing
    team = [p["id"] for p in billing.products if p["name"] == "Team"]
    only_team = cells(get(target, SUBSCRIPTIONS, [("product_id", team[0]), ("product_id", team[1])]))
    assert {row["Product"] for row in only_team} == {"Team"}
    assert len(only_team) == sum(r.product_id in team for r in billing.subscriptions)
    statuses = cells(get(target, SUBSCRIPTIONS, [("status", "trialing"), ("status", "past_due")]))
    assert {row["Status"] for row in statuses} == {"trialing", "past_due"}
    canceling = cells(
        get(target, SUBSCRIPTIONS, [("cancel_at_period_end", "true"), *columns("cancel_at_period_end")])
    )
    assert {row["Cancels At Period End"] for row in canceling} == {"true"}
    since = (billing.anchor - timedelta(days=90)).isoformat()
    recent = cells(get(target, SUBSCRIPTIONS, [("started_after", since)]))
    assert len(recent) == sum(
        r.started_at is not None and r.started_at.isoformat() > since for r in billing.subscriptions
    )
    response = get(
        target, SUBSCRIPTIONS, [("started_after", since), ("started_before", billing.anchor.isoformat())]
    )
    assert (
        response.headers["content-disposition"]
        == 'attachment; filename="polar-subscriptions-2026-09-03-2026-12-02.csv"'
    )


def test_orders_filter_by_status_product_and_creation() -> None:
    target = fake()
    billing = target.billing
    refunds = cells(get(target, ORDERS, [("status", "refunded"), ("status", "partially_refunded")]))
    assert len(refunds) == sum(o.status in ("refunded", "partially_refunded") for o in billing.orders)
    lifetime = next(p for p in billing.products if p["name"] == "Lifetime License")
    bought = cells(get(target, ORDERS, [("product_id", lifetime["id"])]))
    assert {row["Product"] for row in bought} == {"Lifetime License"}
    start = datetime(2026, 11, 1, tzinfo=ZoneInfo("Europe/Paris"))
    november = cells(
        get(
            target,
            ORDERS,
            [("created_after", start.isoformat()), ("created_before", "2026-12-01T00:00:00+01:00")],
        )
    )
    assert november and len(november) == sum(
        start < o.created_at < datetime(2026, 12, 1, tzinfo=ZoneInfo("Europe/Paris")) for o in billing.orders
    )


def test_the_token_sees_its_own_organization_only() -> None:
    target = fake()
    everyone = rows(get(target, SUBSCRIPTIONS))
    assert rows(get(target, SUBSCRIPTIONS, {"organization_id": ORG})) == everyone
    assert rows(get(target, SUBSCRIPTIONS, {"organization_id": FOREIGN_ORG})) == [everyone[0]]
    assert rows(get(target, ORDERS, {"organization_id": FOREIGN_ORG})) == [rows(get(target, ORDERS))[0]]


def test_a_row_names_the_customer_by_current_email() -> None:
    target = fake()
    billing = target.billing
    customer = next(
        c
        for c in target.customers
        if c["email"] and any(s.customer_id == c["id"] for s in billing.subscriptions)
    )
    old = customer["email"]
    customer["email"] = "renamed@example.com"
    found = cells(get(target, SUBSCRIPTIONS, columns("email")))
    assert "renamed@example.com" in {row["Email"] for row in found} and old not in {
        row["Email"] for row in found
    }


@pytest.mark.parametrize(
    ("path", "params", "loc", "kind"),
    [
        (SUBSCRIPTIONS, {"status": "expired"}, ["query", "status", 0], "enum"),
        (SUBSCRIPTIONS, [("columns", "email"), ("columns", "id")], ["query", "columns", 1], "enum"),
        (SUBSCRIPTIONS, {"product_id": "pro"}, ["query", "product_id", 0], "uuid_parsing"),
        (
            SUBSCRIPTIONS,
            {"organization_id": "6ba7b810-9dad-11d1-80b4-00c04fd430c8"},
            ["query", "organization_id", 0],
            "uuid_version",
        ),
        (SUBSCRIPTIONS, {"cancel_at_period_end": "maybe"}, ["query", "cancel_at_period_end"], "bool_parsing"),
        (
            SUBSCRIPTIONS,
            {"started_after": "2026-01-01T00:00:00"},
            ["query", "started_after"],
            "timezone_aware",
        ),
        (
            SUBSCRIPTIONS,
            {"started_before": "last week"},
            ["query", "started_before"],
            "datetime_from_date_parsing",
        ),
        (SUBSCRIPTIONS, {"timezone": "Mars/Olympus_Mons"}, ["query", "timezone"], "value_error"),
        (ORDERS, {"status": "open"}, ["query", "status", 0], "enum"),
        (ORDERS, {"columns": "amount"}, ["query", "columns", 0], "enum"),
        (ORDERS, {"created_after": "2026-11-01"}, ["query", "created_after"], "timezone_aware"),
        (ORDERS, {"timezone": "CEST"}, ["query", "timezone"], "value_error"),
    ],
)
def test_bad_parameters_are_polars_422(path: str, params: Any, loc: list[Any], kind: str) -> None:
    response = get(fake(), path, params)
    assert response.status_code == 422
    body = response.json()
    VALIDATION_ERROR.validate(body)
    assert body["error"] == "RequestValidationError"
    assert [(p["loc"], p["type"]) for p in body["detail"]] == [(loc, kind)]


def test_an_unknown_time_zone_gets_polars_message() -> None:
    detail = get(fake(), ORDERS, {"timezone": "Mars/Olympus_Mons"}).json()["detail"][0]
    assert detail["msg"] == "Value error, 'Mars/Olympus_Mons' is not a valid IANA time zone"


@pytest.mark.parametrize(
    ("path", "scopes", "status"),
    [
        (SUBSCRIPTIONS, {"subscriptions:read"}, 200),
        (SUBSCRIPTIONS, {"subscriptions:write"}, 200),
        (SUBSCRIPTIONS, {"customers:read", "orders:read", "products:read"}, 403),
        (ORDERS, {"orders:read"}, 200),
        (ORDERS, {"orders:write", "subscriptions:read"}, 403),
        (ORDERS, {"customers:read"}, 403),
    ],
)
def test_each_export_needs_its_scope(path: str, scopes: set[str], status: int) -> None:
    target = FakePolar(DEMO, as_of=AS_OF, tokens={"polar_oat_scoped": Grant(ORG, frozenset(scopes))})
    response = get(target, path, token="polar_oat_scoped")
    assert response.status_code == status
    if status == 403:
        assert response.json()["error"] == "insufficient_scope"


def test_the_strict_fake_refuses_what_polar_does_not_define_and_the_lenient_one_ignores_it() -> None:
    response = get(fake(), SUBSCRIPTIONS, {"customer_id": DEMO[0]["id"]})  # the list has it, the export not
    assert response.status_code == 400 and "customer_id" in response.text
    assert get(fake(), ORDERS, {"limit": "10"}).status_code == 400
    lenient = FakePolar(DEMO, as_of=AS_OF, strict=False)
    assert get(lenient, ORDERS, {"limit": "10"}).status_code == 200


def test_paths_without_their_slash_and_other_methods() -> None:
    target = fake()
    with httpx.Client(transport=httpx.MockTransport(target), base_url="https://api.polar.sh") as client:
        headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
        assert client.post(SUBSCRIPTIONS, headers=headers).status_code == 405
        assert client.get("/v1/subscriptions/exports", headers=headers).status_code == 404
        assert client.get(ORDERS, headers={**headers, "Polar-Version": "2025-01"}).status_code == 404


def test_the_customers_export_is_unchanged() -> None:
    response = get(fake(), "/v1/customers/export")
    assert response.headers["content-disposition"] == 'attachment; filename="polar-customers.csv"'
    assert tuple(rows(response)[0]) == EXPORT_HEADER and len(rows(response)) == len(DEMO) + 1


def test_a_large_export_is_one_streamed_body_in_pieces() -> None:
    customers = sample_customers(2000, seed=3)
    billing = sample_billing(customers, AS_OF, subscriptions=800, orders=20_000)
    target = FakePolar(customers, billing=billing)
    with httpx.Client(transport=httpx.MockTransport(target), base_url="https://api.polar.sh") as client:
        headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
        with client.stream("GET", ORDERS, params=columns(*ORDER_COLUMNS), headers=headers) as response:
            pieces = list(response.iter_raw())
    assert len(pieces) > 5
    body = b"".join(pieces).decode()
    assert len(list(csv.reader(io.StringIO(body)))) == 20_001
    assert len(target.requests) == 1


def test_an_async_client_reads_the_export_over_asgi() -> None:
    async def read() -> tuple[int, str]:
        transport = httpx.ASGITransport(app=asgi_app(fake()))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            response = await client.get(SUBSCRIPTIONS, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})
            return response.status_code, response.text

    status, text = anyio.run(read)
    assert status == 200 and text.splitlines()[0] == ",".join(
        SUBSCRIPTION_COLUMNS[c] for c in SUBSCRIPTION_DEFAULT_COLUMNS
    )
    assert len(text.splitlines()) == len(demo_billing(AS_OF).subscriptions) + 1
