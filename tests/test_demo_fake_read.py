"""The fake's read endpoints (one customer, its state, products) are held to Polar's own OpenAPI excerpt."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from polar_mcp.demo.billing import ACTIVE_STATUSES, STATE_STATUSES, holdings_of, sample_holdings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar, Fault, Grant
from polar_mcp.demo.organization import demo_customers, sample_customers
from tests.conftest import DATA
from tests.helpers import OTHER_ORG, json_digest

READ_OPENAPI = json.loads((DATA / "customers-read.openapi.json").read_text())
# Of Polar's published excerpt of the read operations (API version 2026-04), as copied into tests/data:
# a new excerpt comes with its digest, and the file is never edited by hand.
PUBLISHED_DIGEST = "73fb179eab6f751ec487b8b04496ba56278fc30359f97d66028a52b7be0f397a"
KNOWN_BENEFIT_TYPES = set(READ_OPENAPI["components"]["schemas"]["BenefitType"]["enum"])
DEMO = demo_customers()


def validator_for(name: str) -> jsonschema.Draft202012Validator:
    document = Resource.from_contents(READ_OPENAPI, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("openapi.json", document)
    return jsonschema.Draft202012Validator(
        {"$ref": f"openapi.json#/components/schemas/{name}"}, registry=registry
    )


CUSTOMER = validator_for("Customer")
STATE = validator_for("CustomerState")
PRODUCTS = validator_for("ListResource_Product_")
NOT_FOUND = validator_for("ResourceNotFound")
VALIDATION_ERROR = validator_for("HTTPValidationError")


def get(fake: FakePolar, path: str, params: Any = None, token: str | None = DEFAULT_TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(transport=httpx.MockTransport(fake), base_url="https://api.polar.sh") as client:
        return client.get(path, params=params, headers=headers)


def demo_fake() -> FakePolar:
    return FakePolar(DEMO)


def validate_state(body: dict[str, Any]) -> None:
    """Validate against the excerpt; a benefit type newer than the excerpt is the one allowed difference."""
    known = copy.deepcopy(body)
    future = [g for g in known["granted_benefits"] if g["benefit_type"] not in KNOWN_BENEFIT_TYPES]
    for grant in future:
        grant["benefit_type"] = "custom"  # the same grant, as this API version would type it
    STATE.validate(known)
    assert STATE.is_valid(body) is not bool(future)


def test_bundled_read_openapi_is_polars_published_excerpt_unedited() -> None:
    assert json_digest(READ_OPENAPI) == PUBLISHED_DIGEST
    assert READ_OPENAPI["info"]["version"] == "2026-04"


def test_fake_serves_every_read_operation_of_the_excerpt_but_the_export() -> None:
    served = {
        "/v1/customers/{id}",
        "/v1/customers/external/{external_id}",
        "/v1/customers/{id}/state",
        "/v1/customers/external/{external_id}/state",
        "/v1/products/",
    }
    assert set(READ_OPENAPI["paths"]) - served == {"/v1/customers/export"}


def holdings_kinds(customer: dict[str, Any], fake: FakePolar) -> set[str]:
    """The kinds of billing a customer shows, to pick one customer of each kind."""
    subs = fake.holdings[customer["id"]]["subscriptions"]
    kinds = {f"status:{s['status']}" for s in subs}
    kinds |= {"cancel_at_period_end" for s in subs if s["cancel_at_period_end"]}
    kinds |= {"metered" for s in subs if s["meters"]}
    kinds |= {f"currency:{s['currency']}" for s in subs if s["status"] in STATE_STATUSES}
    kinds |= {f"interval:{s['recurring_interval']}" for s in subs if s["status"] in STATE_STATUSES}
    kinds |= {f"benefit:{g['benefit_type']}" for g in fake.holdings[customer["id"]]["granted_benefits"]}
    if not subs:
        kinds.add("none")
    if subs and all(s["status"] == "past_due" for s in subs):
        kinds.add("past_due only")
    if customer["type"] == "team" and customer["email"] is None:
        kinds.add("team without email")
    return kinds


REQUIRED_KINDS = {
    "status:active",
    "status:trialing",
    "status:past_due",
    "status:canceled",
    "cancel_at_period_end",
    "metered",
    "currency:usd",
    "currency:eur",
    "currency:gbp",
    "currency:jpy",
    "interval:month",
    "interval:year",
    "interval:week",
    "benefit:license_keys",
    "benefit:downloadables",
    "benefit:discord",
    "benefit:github_repository",
    "benefit:feature_flag",
    "benefit:custom",
    "benefit:meter_credit",
    "benefit:slack_shared_channel",
    "benefit:course_access",
    "none",
    "past_due only",
    "team without email",
}


def one_of_each_kind(fake: FakePolar) -> dict[str, dict[str, Any]]:
    chosen: dict[str, dict[str, Any]] = {}
    for customer in fake.customers:
        for kind in holdings_kinds(customer, fake):
            chosen.setdefault(kind, customer)
    return chosen


def test_demo_organization_has_every_kind_of_billing() -> None:
    assert set(one_of_each_kind(demo_fake())) >= REQUIRED_KINDS
    assert "course_access" not in KNOWN_BENEFIT_TYPES  # the one type newer than the excerpt


def test_sample_billing_is_deterministic_and_independent_of_the_customer_count() -> None:
    assert sample_holdings(DEMO) == sample_holdings(demo_customers())
    first = sample_customers(40)
    everyone = sample_holdings(sample_customers(320))
    assert sample_holdings(first) == {c["id"]: everyone[c["id"]] for c in first}


def test_active_filter_counts_active_trialing_and_past_due_subscriptions_as_before() -> None:
    fake = demo_fake()
    active = get(fake, "/v1/customers/", {"active": "true", "limit": 100, "page": 1}).json()
    expected = {
        c["id"]
        for c in DEMO
        if any(s["status"] in ACTIVE_STATUSES for s in fake.holdings[c["id"]]["subscriptions"])
    }
    # The rule before subscriptions existed: a paid metadata plan. Both select the same customers.
    assert expected == {c["id"] for c in DEMO if c["metadata"].get("plan") not in (None, "free")}
    assert active["pagination"]["total_count"] == len(expected)


@pytest.mark.parametrize("kind", sorted(REQUIRED_KINDS))
def test_state_of_each_kind_validates_against_polars_schema(kind: str) -> None:
    fake = demo_fake()
    customer = one_of_each_kind(fake)[kind]
    by_id = get(fake, f"/v1/customers/{customer['id']}/state")
    assert by_id.status_code == 200 and by_id.headers["content-type"] == "application/json"
    body = by_id.json()
    validate_state(body)
    assert all(s["status"] in STATE_STATUSES for s in body["active_subscriptions"])
    if customer["external_id"]:
        by_external = get(fake, f"/v1/customers/external/{quote(customer['external_id'], safe='')}/state")
        assert by_external.json() == body


@pytest.mark.parametrize("index", [0, 1, 2, 3, 4, 5])
def test_single_customer_validates_and_matches_the_list(index: int) -> None:
    fake = demo_fake()
    customer = fake.customers[index]
    body = get(fake, f"/v1/customers/{customer['id']}").json()
    CUSTOMER.validate(body)
    assert body == customer
    if customer["external_id"]:
        assert get(fake, f"/v1/customers/external/{customer['external_id']}").json() == customer


def test_external_id_is_one_percent_encoded_segment() -> None:
    fake = demo_fake()
    customer = fake.customers[2]
    customer["external_id"] = "a/b c?d#é"
    encoded = quote("a/b c?d#é", safe="")
    assert get(fake, f"/v1/customers/external/{encoded}").json()["id"] == customer["id"]
    assert get(fake, f"/v1/customers/external/{encoded}/state").json()["id"] == customer["id"]
    # Unencoded, the slash splits the path and nothing matches.
    assert get(fake, "/v1/customers/external/a/b%20c/state").status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        None,
        {"limit": 100},
        {"limit": 2, "page": 2},
        {"limit": 1000},
        {"page": 99},
    ],
)
def test_product_pages_validate_against_polars_schema(params: dict[str, Any] | None) -> None:
    fake = demo_fake()
    response = get(fake, "/v1/products/", params)
    assert response.status_code == 200
    body = response.json()
    PRODUCTS.validate(body)
    assert body["pagination"]["total_count"] == len(fake.products)


def test_products_filter_by_repeated_id() -> None:
    fake = demo_fake()
    wanted = [fake.products[1]["id"], fake.products[4]["id"]]
    body = get(fake, "/v1/products/", [("id", wanted[0]), ("id", wanted[1]), ("limit", "100")]).json()
    PRODUCTS.validate(body)
    assert {p["id"] for p in body["items"]} == set(wanted)


def test_products_need_a_products_scope() -> None:
    org = DEMO[0]["organization_id"]
    tokens = {
        "polar_oat_customers": Grant(org),
        "polar_oat_products_write": Grant(org, frozenset({"customers:read", "products:write"})),
    }
    fake = FakePolar(DEMO, tokens=tokens)
    denied = get(fake, "/v1/products/", token="polar_oat_customers")
    assert denied.status_code == 403 and denied.json()["error"] == "insufficient_scope"
    assert get(fake, "/v1/products/", token="polar_oat_products_write").status_code == 200
    assert get(fake, f"/v1/customers/{DEMO[0]['id']}/state", token="polar_oat_customers").status_code == 200
    products_only = FakePolar(DEMO, tokens={"polar_oat_p": Grant(org, frozenset({"products:read"}))})
    assert get(products_only, f"/v1/customers/{DEMO[0]['id']}", token="polar_oat_p").status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/v1/customers/6f0c2b6e-3f4a-4b5c-8d9e-0a1b2c3d4e5f",
        "/v1/customers/6f0c2b6e-3f4a-4b5c-8d9e-0a1b2c3d4e5f/state",
        "/v1/customers/external/usr_nobody",
        "/v1/customers/external/usr_nobody/state",
    ],
)
def test_unknown_customer_is_polars_resource_not_found(path: str) -> None:
    response = get(demo_fake(), path)
    assert response.status_code == 404
    NOT_FOUND.validate(response.json())
    assert response.json() == {"error": "ResourceNotFound", "detail": "Not found"}


def test_another_organizations_customer_is_not_found() -> None:
    fake = demo_fake()
    fake.customers[0]["organization_id"] = OTHER_ORG
    assert get(fake, f"/v1/customers/{fake.customers[0]['id']}").status_code == 404
    assert get(fake, f"/v1/customers/external/{fake.customers[0]['external_id']}/state").status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "error_type"),
    [
        ("/v1/customers/not-a-uuid", None, "uuid_parsing"),
        ("/v1/customers/6ba7b810-9dad-11d1-80b4-00c04fd430c8/state", None, "uuid_version"),
        ("/v1/customers/00000000-0000-0000-0000-000000000000", None, "uuid_version"),
        ("/v1/products/", {"id": "nope"}, "uuid_parsing"),
        ("/v1/products/", {"limit": "0"}, "greater_than"),
        ("/v1/products/", {"page": "x"}, "greater_than"),
    ],
)
def test_malformed_ids_and_bounds_are_polars_422(path: str, params: Any, error_type: str) -> None:
    response = get(demo_fake(), path, params)
    assert response.status_code == 422
    VALIDATION_ERROR.validate(response.json())
    assert response.json()["detail"][0]["type"] == error_type


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (f"/v1/customers/{DEMO[0]['id']}/state", {"include": "all"}),
        ("/v1/customers/external/usr_1", {"organization_id": DEMO[0]["organization_id"]}),
        ("/v1/products/", {"name": "Pro"}),
        ("/v1/products/", {"is_archived": "false"}),  # documented, but not implemented by the fake
    ],
)
def test_strict_fake_refuses_parameters_it_does_not_serve(path: str, params: dict[str, str]) -> None:
    response = get(demo_fake(), path, params)
    assert response.status_code == 400 and next(iter(params)) in response.text


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"token": None}, 401),
        ({"token": "polar_oat_someone_else"}, 401),
        ({"path": "/v1/products"}, 307),
        ({"path": "/v1/customers/external/"}, 404),
        ({"path": "/v1/customers/a/b/c/state"}, 404),
    ],
)
def test_read_endpoints_fail_like_polar(kwargs: dict[str, Any], status: int) -> None:
    path = kwargs.pop("path", f"/v1/customers/{DEMO[0]['id']}/state")
    assert get(demo_fake(), path, **kwargs).status_code == status


def test_faults_and_rate_limits_apply_to_read_endpoints() -> None:
    fake = FakePolar(DEMO, rate_limit=2)
    fake.fail_next(Fault(503, "Service Unavailable"))
    path = f"/v1/customers/{DEMO[0]['id']}/state"
    assert get(fake, path).status_code == 503
    assert get(fake, path).status_code == 200
    assert get(fake, "/v1/products/").status_code == 429


def test_schema_check_would_catch_a_drifting_state() -> None:
    fake = demo_fake()
    customer = one_of_each_kind(fake)["metered"]
    body = get(fake, f"/v1/customers/{customer['id']}/state").json()
    broken = copy.deepcopy(body)
    broken["active_subscriptions"][0]["status"] = "past_due"  # never in the state
    with pytest.raises(jsonschema.ValidationError):
        validate_state(broken)
    broken = copy.deepcopy(body)
    del broken["active_meters"][0]["balance"]
    with pytest.raises(jsonschema.ValidationError):
        validate_state(broken)


def test_derived_holdings_match_the_eager_ones_and_follow_the_customer_list() -> None:
    fake = demo_fake()
    eager = sample_holdings(DEMO)
    assert {c["id"]: fake.holdings[c["id"]] for c in DEMO[:30]} == {
        c["id"]: eager[c["id"]] for c in DEMO[:30]
    }
    assert holdings_of(fake.holdings, "6f0c2b6e-3f4a-4b5c-8d9e-0a1b2c3d4e5f") is None
    late = {**sample_customers(1, seed=99)[0], "organization_id": DEMO[0]["organization_id"]}
    fake.customers.append(late)
    assert fake.holdings[late["id"]] == sample_holdings([late])[late["id"]]
    assert get(fake, f"/v1/customers/{late['id']}/state").status_code == 200
