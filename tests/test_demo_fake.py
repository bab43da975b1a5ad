"""The fake Polar is held to Polar's own OpenAPI document so it cannot drift from the real API."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar
from polar_mcp.demo.organization import sample_customers
from tests.conftest import OPENAPI
from tests.helpers import json_digest

OPERATION = OPENAPI["paths"]["/v1/customers/"]["get"]
# Of Polar's published excerpt for listing customers (API version 2026-04), as copied into tests/data:
# a new excerpt comes with its digest, and the file is never edited by hand.
PUBLISHED_DIGEST = "ca5b77abe50bd109eea2dcad0040e4143881e1b821282d59355315b76f231963"


def validator_for(schema_ref: str) -> jsonschema.Draft202012Validator:
    # OpenAPI 3.1 schemas are JSON Schema 2020-12; refs point into the document's components.
    document = Resource.from_contents(OPENAPI, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("openapi.json", document)
    return jsonschema.Draft202012Validator({"$ref": f"openapi.json{schema_ref}"}, registry=registry)


PAGE = validator_for("#/components/schemas/ListResource_Customer_")
VALIDATION_ERROR = validator_for("#/components/schemas/HTTPValidationError")


def get(
    fake: FakePolar,
    params: Any = None,
    token: str | None = DEFAULT_TOKEN,
    path: str = "/v1/customers/",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    all_headers = {"Authorization": f"Bearer {token}"} if token else {}
    all_headers.update(headers or {})
    with httpx.Client(transport=httpx.MockTransport(fake), base_url="https://api.polar.sh") as client:
        return client.get(path, params=params, headers=all_headers)


def test_bundled_openapi_is_polars_published_excerpt_unedited() -> None:
    assert json_digest(OPENAPI) == PUBLISHED_DIGEST
    assert OPENAPI["info"]["version"] == "2026-04" and list(OPENAPI["paths"]) == ["/v1/customers/"]


def test_fake_accepts_exactly_the_documented_query_parameters() -> None:
    documented = {p["name"] for p in OPERATION["parameters"]}
    assert documented == {
        "organization_id",
        "email",
        "query",
        "active",
        "page",
        "limit",
        "sorting",
        "metadata",
    }
    response = get(FakePolar([]), {"external_id": "usr_1"})
    assert response.status_code == 400 and "external_id" in response.text


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"limit": 100},
        {"limit": 1000},  # silently capped like Polar
        {"page": 3, "limit": 7, "sorting": ["name", "-created_at"]},
        {"sorting": "-email"},
        {"query": "a", "active": "true"},
        {"metadata[plan]": ["pro", "team"]},
        {"page": 999},
    ],
)
def test_fake_pages_validate_against_polars_schema(params: dict[str, Any]) -> None:
    fake = FakePolar(sample_customers(250, seed=3))
    response = get(fake, params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    PAGE.validate(body)
    assert len(body["items"]) <= 100


def test_sample_data_has_teams_without_email_and_customers_without_address() -> None:
    data = sample_customers(400)
    assert any(c["type"] == "team" and c["email"] is None for c in data)
    assert any(c["billing_address"] is None for c in data)
    assert any(not c["name"].isascii() for c in data)
    assert len({c["id"] for c in data}) == 400
    assert data == sample_customers(400)  # deterministic


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"page": 0}, ["query", "page"]),
        ({"limit": "x"}, ["query", "limit"]),
        ({"sorting": "bogus"}, ["query", "sorting", 0]),
        ({"organization_id": "nope"}, ["query", "organization_id", 0]),
        ({"active": "maybe"}, ["query", "active"]),
    ],
)
def test_fake_rejects_invalid_values_with_polars_422_shape(params: dict[str, Any], loc: list[Any]) -> None:
    response = get(FakePolar([]), params)
    assert response.status_code == 422
    body = response.json()
    VALIDATION_ERROR.validate(body)
    assert body["detail"][0]["loc"] == loc


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"token": None}, 401, "Unauthorized"),
        ({"token": "polar_oat_someone_else"}, 401, "invalid_token"),
        ({"path": "/v1/customers"}, 307, None),
        ({"path": "/v1/customer/"}, 404, None),
        ({"headers": {"Polar-Version": "1999-01"}}, 404, None),
    ],
)
def test_fake_fails_like_polar(kwargs: dict[str, Any], status: int, error: str | None) -> None:
    response = get(FakePolar([]), **kwargs)
    assert response.status_code == status
    if error:
        assert response.json()["error"] == error


def test_fake_rate_limit_is_an_empty_429_with_retry_after() -> None:
    fake = FakePolar([], rate_limit=1)
    assert get(fake).status_code == 200
    limited = get(fake)
    assert limited.status_code == 429 and limited.content == b"" and limited.headers["retry-after"] == "60"


def test_schema_check_would_catch_a_drifting_fake() -> None:
    customer = sample_customers(1)[0]
    broken = {**customer, "type": "individual", "email": None}  # individuals always have an email
    with pytest.raises(jsonschema.ValidationError):
        PAGE.validate({"items": [broken], "pagination": {"total_count": 1, "max_page": 1}})
    with pytest.raises(jsonschema.ValidationError):
        PAGE.validate({"items": [], "pagination": {"total_count": 1}})
