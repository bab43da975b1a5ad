"""The list_customers tool through a real MCP client, in both protocol modes."""

from __future__ import annotations

import json
from typing import Any

import anyio
import jsonschema
import pytest
from mcp import Client

from polar_mcp.demo.fake import FakePolar, Fault
from polar_mcp.server import PolarMCPServer
from polar_mcp.tools.list_customers import ARGUMENT_HINTS, DEFAULT_FIELDS, render_page
from tests.conftest import make_server
from tests.helpers import MODES, ORG, OTHER_ORG, caller, text_of

pytestmark = pytest.mark.anyio

call = caller("list_customers", mode="legacy")


async def test_tool_annotations_declare_a_read_only_open_world_tool_that_destroys_nothing(
    server: PolarMCPServer,
) -> None:
    async with Client(server) as client:
        tool = (await client.list_tools()).tools[0]
    assert tool.annotations is not None
    assert tool.annotations.read_only_hint is True
    assert tool.annotations.destructive_hint is False
    assert tool.annotations.open_world_hint is True
    # The spec gives idempotentHint meaning only when readOnlyHint is false.
    assert tool.annotations.idempotent_hint is None
    assert tool.title
    properties = tool.input_schema["properties"]
    assert list(properties) == [
        "organization_id",
        "email",
        "query",
        "active",
        "metadata",
        "sorting",
        "page",
        "limit",
        "fields",
        "response_format",
    ]
    assert all(prop.get("description") or prop["anyOf"][0].get("description") for prop in properties.values())
    assert properties["limit"]["anyOf"] == [
        {"description": "Customers per page.", "type": "integer", "minimum": 1, "maximum": 100},
        {"type": "null"},
    ]
    assert tool.output_schema is not None
    assert set(tool.output_schema["properties"]) >= {
        "customers",
        "page",
        "limit",
        "total_count",
        "max_page",
        "has_more",
        "next_page",
    }


def _keys(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        return [key for key, value in schema.items() for key in [key, *_keys(value)]]
    if isinstance(schema, list):
        return [key for item in schema for key in _keys(item)]
    return []


async def test_schemas_carry_no_derived_titles_and_every_optional_argument_accepts_null(
    fake: FakePolar,
) -> None:
    nulls = {name: None for name in ARGUMENT_HINTS}
    async with Client(make_server(fake)) as client:
        tool = (await client.list_tools()).tools[0]
        explicit_nulls = await client.call_tool("list_customers", nulls)
        omitted = await client.call_tool("list_customers", {})
    assert "title" not in _keys(tool.input_schema) and "title" not in _keys(tool.output_schema)
    assert "required" not in tool.input_schema
    for name, prop in tool.input_schema["properties"].items():
        assert prop["anyOf"][-1] == {"type": "null"}, name
        assert "type" not in prop, name  # unions are anyOf branches, never type lists
    email = tool.input_schema["properties"]["email"]
    assert email == {
        "anyOf": [
            {
                "description": "Exact email, case-insensitive.",
                "type": "string",
                "maxLength": 320,
            },
            {"type": "null"},
        ]
    }
    assert [branch["type"] for branch in tool.input_schema["properties"]["organization_id"]["anyOf"]] == [
        "string",
        "array",
        "null",
    ]
    assert tool.output_schema is not None
    assert tool.output_schema["properties"]["next_page"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert not explicit_nulls.is_error, text_of(explicit_nulls)  # null means "not given"
    assert explicit_nulls.structured_content == omitted.structured_content
    assert text_of(explicit_nulls) == text_of(omitted)


PAGE_SHAPES: list[dict[str, Any]] = [
    {},
    {"limit": 100, "page": 2},
    {"response_format": "detailed", "limit": 3},
    {"query": "no such customer anywhere"},
]


@pytest.mark.parametrize("demo", [False, True], ids=["own data", "demo"])
async def test_the_output_schema_gives_next_page_as_a_nullable_union_and_validates_every_page(
    fake: FakePolar, demo: bool
) -> None:
    async with Client(make_server(fake, demo=demo)) as client:
        tool = (await client.list_tools()).tools[0]
        results = [await client.call_tool("list_customers", arguments) for arguments in PAGE_SHAPES]
    schema = tool.output_schema
    assert schema is not None
    assert schema["properties"]["next_page"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert {result.structured_content["next_page"] for result in results} == {2, None}
    for result in results:
        assert not result.is_error, text_of(result)
        jsonschema.validate(result.structured_content, schema)


# Each row: arguments, the exact query string the fake must receive.
ENCODING = [
    ("defaults", {}, "page=1&limit=10"),
    ("one organization", {"organization_id": ORG}, f"organization_id={ORG}&page=1&limit=10"),
    (
        "organization list repeats the key",
        {"organization_id": [ORG, OTHER_ORG]},
        f"organization_id={ORG}&organization_id={OTHER_ORG}&page=1&limit=10",
    ),
    ("email is escaped", {"email": "a+b@example.com"}, "email=a%2Bb%40example.com&page=1&limit=10"),
    ("query with spaces and ampersand", {"query": "Ada & co"}, "query=Ada+%26+co&page=1&limit=10"),
    ("active true", {"active": True}, "active=true&page=1&limit=10"),
    ("active false", {"active": False}, "active=false&page=1&limit=10"),
    ("metadata string", {"metadata": {"plan": "pro"}}, "metadata%5Bplan%5D=pro&page=1&limit=10"),
    (
        "metadata list means OR",
        {"metadata": {"plan": ["pro", "team"]}},
        "metadata%5Bplan%5D=pro&metadata%5Bplan%5D=team&page=1&limit=10",
    ),
    (
        "metadata bool and int",
        {"metadata": {"beta": True, "seats": 5}},
        "metadata%5Bbeta%5D=true&metadata%5Bseats%5D=5&page=1&limit=10",
    ),
    (
        "metadata conditions, the published form",
        {"metadata": [{"key": "plan", "value": ["pro", "team"]}, {"key": "beta", "value": True}]},
        "metadata%5Bplan%5D=pro&metadata%5Bplan%5D=team&metadata%5Bbeta%5D=true&page=1&limit=10",
    ),
    ("metadata no conditions", {"metadata": []}, "page=1&limit=10"),
    (
        "metadata mixed list",
        {"metadata": {"seats": [1, "2", False]}},
        "metadata%5Bseats%5D=1&metadata%5Bseats%5D=2&metadata%5Bseats%5D=false&page=1&limit=10",
    ),
    (
        "sorting repeats in order",
        {"sorting": ["name", "-created_at"]},
        "sorting=name&sorting=-created_at&page=1&limit=10",
    ),
    ("page and limit", {"page": 3, "limit": 100}, "page=3&limit=100"),
    ("numeric strings are accepted", {"page": "2", "limit": "25"}, "page=2&limit=25"),
    ("json-encoded list argument", {"sorting": '["email"]'}, "sorting=email&page=1&limit=10"),
    ("detailed changes nothing on the wire", {"response_format": "detailed"}, "page=1&limit=10"),
    (
        "everything at once",
        {
            "organization_id": ORG,
            "email": "x@example.com",
            "query": "x",
            "active": True,
            "metadata": {"plan": "pro"},
            "sorting": ["-email"],
            "page": 2,
            "limit": 5,
        },
        f"organization_id={ORG}&email=x%40example.com&query=x&active=true&metadata%5Bplan%5D=pro"
        "&sorting=-email&page=2&limit=5",
    ),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("name", "arguments", "expected_query"), ENCODING, ids=[row[0] for row in ENCODING])
async def test_encodes_each_parameter_exactly(
    fake: FakePolar, mode: str, name: str, arguments: dict[str, Any], expected_query: str
) -> None:
    result = await call(make_server(fake), arguments, mode)
    assert not result.is_error, text_of(result)
    assert fake.queries == [expected_query]
    request = fake.requests[0]
    assert request.url.path == "/v1/customers/"
    assert request.headers["authorization"].startswith("Bearer ")
    assert "polar-version" not in request.headers


async def test_sends_polar_version_header_only_when_configured(fake: FakePolar) -> None:
    await call(make_server(fake, api_version="2026-10"), {})
    assert fake.requests[0].headers["polar-version"] == "2026-10"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("limit", [7, 100])
async def test_pages_to_the_end_without_duplicates_or_gaps(
    fake: FakePolar, customers: list[dict[str, Any]], mode: str, limit: int
) -> None:
    server = make_server(fake)
    seen: list[str] = []
    page: int | None = 1
    async with Client(server, mode=mode) as client:
        while page is not None:
            result = await client.call_tool("list_customers", {"page": page, "limit": limit})
            assert not result.is_error, text_of(result)
            data = result.structured_content
            seen.extend(customer["id"] for customer in data["customers"])
            if data["next_page"] is None:
                assert "next:" not in text_of(result)
                assert data["has_more"] is False
            else:
                assert f"next: list_customers with page={data['next_page']} and the same filters" in text_of(
                    result
                )
            page = data["next_page"]
    assert len(seen) == len(set(seen)) == len(customers)
    assert set(seen) == {customer["id"] for customer in customers}


async def test_concise_customer_has_only_the_key_fields_and_omits_empty_ones(
    server: PolarMCPServer, customers: list[dict[str, Any]]
) -> None:
    result = await call(server, {"limit": 100})
    by_id = {c["id"]: c for c in customers}
    for record in result.structured_content["customers"]:
        assert set(record) <= {
            "id",
            "name",
            "email",
            "external_id",
            "type",
            "created_at",
            "country",
            "metadata",
        }
        assert all(value not in (None, "", {}, []) for value in record.values())
        source = by_id[record["id"]]
        assert record.get("email") == source["email"]
        assert record.get("country") == (source["billing_address"] or {}).get("country")
        assert record.get("metadata") == (source["metadata"] or None)


async def test_detailed_customer_keeps_every_field_polar_returned(fake: FakePolar) -> None:
    fake.customers[0]["loyalty_tier"] = {"level": "gold"}  # a field from a future API version
    result = await call(
        make_server(fake), {"limit": 100, "sorting": ["created_at"], "response_format": "detailed"}
    )
    first = result.structured_content["customers"][0]
    assert first == fake.customers[0]
    assert '"loyalty_tier":{"level":"gold"}' in text_of(result)


async def test_detailed_text_omits_null_fields_at_every_depth(fake: FakePolar) -> None:
    fake.customers[0].update(
        tax_id=None,
        billing_address={"line1": "1 Main St", "line2": None, "country": "US"},
        loyalty={"tiers": [{"level": "gold", "until": None}, None]},
    )
    result = await call(
        make_server(fake), {"limit": 1, "sorting": ["created_at"], "response_format": "detailed"}
    )
    text = text_of(result)
    assert "null fields omitted" in text
    row = json.loads(text.splitlines()[-2])  # the last customer line, before the next-call line
    assert "tax_id" not in row
    assert row["billing_address"] == {"line1": "1 Main St", "country": "US"}
    assert row["loyalty"] == {"tiers": [{"level": "gold"}, None]}  # a null list item keeps its place
    assert result.structured_content["customers"][0]["billing_address"]["line2"] is None


async def test_team_customers_without_email_and_unknown_types_do_not_fail_the_page(fake: FakePolar) -> None:
    fake.customers[0].update(type="household", email=None, billing_address=None, name=None)
    fake.customers[1].update(type="team", email=None, metadata={})
    result = await call(make_server(fake), {"limit": 100, "sorting": ["created_at"]})
    assert not result.is_error
    records = result.structured_content["customers"]
    assert records[0]["type"] == "household" and "email" not in records[0] and "country" not in records[0]
    assert records[1]["type"] == "team"


async def test_text_summary_names_the_range_and_page(server: PolarMCPServer) -> None:
    result = await call(server, {"page": 2, "limit": 10})
    lines = text_of(result).splitlines()
    assert lines[0] == "Customers 11-20 of 123 (page 2 of 13)."
    assert lines[-1] == "next: list_customers with page=3 and the same filters"


def parse_row(row: str, columns: tuple[str, ...] = DEFAULT_FIELDS) -> dict[str, str]:
    """A concise row as the model reads it: the named columns, then an id on rows that need one."""
    cells = row.split("\t")
    parsed = dict(zip(columns, cells + [""] * len(columns), strict=False))
    if len(cells) > len(columns):
        assert len(cells) == len(columns) + 1 and "id" not in columns, row
        parsed["id"] = cells[-1]
    return parsed


async def test_text_rows_carry_every_concise_value(server: PolarMCPServer) -> None:
    result = await call(server, {"limit": 100})
    rows = text_of(result).splitlines()[1:-1]  # between the summary and the next call
    records = result.structured_content["customers"]
    assert len(rows) == len(records) == 100
    for row, record in zip(rows, records, strict=True):
        parsed = parse_row(row)
        assert parsed["type"] == ("" if record["type"] == "individual" else record["type"])
        for column in ("name", "email", "external_id", "country", "created_at"):
            assert parsed[column] == record.get(column, ""), (column, row)
        metadata = record.get("metadata", {})
        assert parsed["metadata"] == ",".join(
            f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in metadata.items()
        )


async def test_rows_show_the_id_only_when_neither_email_nor_external_id_names_the_customer(
    fake: FakePolar,
) -> None:
    fake.customers[0].update(email=None, external_id=None)
    fake.customers[1].update(email=None, external_id="crm 7")  # shown as "crm 7" either way
    fake.customers[2].update(email=None, external_id="crm  8")  # a cell collapses the spaces
    result = await call(make_server(fake), {"limit": 100, "sorting": ["created_at"]})
    rows = [parse_row(row) for row in text_of(result).splitlines()[2:-1]]  # after the summary and filters
    records = result.structured_content["customers"]
    assert rows[0]["id"] == records[0]["id"]
    assert "id" not in rows[1] and rows[1]["external_id"] == "crm 7"
    assert rows[2]["id"] == records[2]["id"]
    with_id = [row for row in rows if "id" in row]
    assert len(with_id) == sum(1 for r in records if not r.get("email") and not r.get("external_id")) + 1
    assert all(len(record["id"]) == 36 for record in records)  # structuredContent keeps every id


async def test_fields_choose_the_columns_and_a_header_names_them(server: PolarMCPServer) -> None:
    result = await call(server, {"limit": 100, "fields": ["email", "created_at"]})
    lines = text_of(result).splitlines()
    rows = lines[2:-1]
    records = result.structured_content["customers"]
    no_email = [r for r in records if not r.get("email")]
    assert no_email, "the sample needs customers without email"
    assert lines[1] == "Columns: email, created_at, id"
    for row, record in zip(rows, records, strict=True):
        parsed = parse_row(row, ("email", "created_at"))
        assert parsed["created_at"] == record["created_at"]
        assert parsed.get("id") == (None if record.get("email") else record["id"])
    assert set(records[0]) >= {"id", "name", "created_at"}  # structuredContent stays complete


async def test_fields_with_id_give_every_uuid_and_no_header_id_twice(server: PolarMCPServer) -> None:
    result = await call(server, {"limit": 10, "fields": ["id", "name", "id"]})
    lines = text_of(result).splitlines()
    assert lines[1] == "Columns: id, name"
    ids = [row.split("\t")[0] for row in lines[2:-1]]
    assert ids == [record["id"] for record in result.structured_content["customers"]]


async def test_fields_without_identifiers_end_every_row_with_its_id(server: PolarMCPServer) -> None:
    result = await call(server, {"limit": 10, "fields": ["country"]})
    lines = text_of(result).splitlines()
    assert lines[1] == "Columns: country, id"
    ids = [row.split("\t")[-1] for row in lines[2:-1]]
    assert ids == [record["id"] for record in result.structured_content["customers"]]


async def test_fields_with_detailed_is_refused_before_any_request(fake: FakePolar) -> None:
    result = await call(make_server(fake), {"fields": ["email"], "response_format": "detailed"})
    assert result.is_error
    assert "Nothing was sent to Polar" in text_of(result)
    assert fake.requests == []


async def test_concise_text_is_compact_and_escapes_awkward_values(fake: FakePolar) -> None:
    fake.customers[0].update(name="Tab\there\nnewline", metadata={"note": "a=b, c", "n": 1})
    result = await call(make_server(fake), {"limit": 100, "sorting": ["created_at"]})
    first_row = text_of(result).splitlines()[2]  # after the summary and the filters
    assert first_row.startswith("Tab here newline\t")
    assert first_row.endswith('{"note":"a=b, c","n":1}')


UNTIDY_NAMES = [
    ("Ada  Lovelace", "Ada Lovelace"),
    (" Ada", "Ada"),
    ("Ada ", "Ada"),
    ("Ada\u00a0Lovelace", "Ada Lovelace"),
    ("Ada\u3000Lovelace", "Ada Lovelace"),
    ("Ada\tLovelace", "Ada Lovelace"),
    ("Ada\nLovelace", "Ada Lovelace"),
    ("Ada\r\n Lovelace", "Ada Lovelace"),
]


@pytest.mark.parametrize(("name", "shown"), UNTIDY_NAMES)
def test_one_untidy_cell_among_tidy_rows_is_made_one_line(name: str, shown: str) -> None:
    # Rows are checked for tidiness a page at a time; one bad cell must still be found and fixed.
    tidy = {"name": "Grace Hopper", "email": "grace@example.com", "created_at": "2024-01-02"}
    page = {
        "customers": [tidy, tidy | {"name": name}, tidy],
        "page": 1,
        "limit": 10,
        "total_count": 3,
        "max_page": 1,
        "next_page": None,
    }
    rows = render_page(page, "concise", {}).splitlines()[1:]
    assert rows == [
        "Grace Hopper\tgrace@example.com\t\t\t\t2024-01-02",
        f"{shown}\tgrace@example.com\t\t\t\t2024-01-02",
        "Grace Hopper\tgrace@example.com\t\t\t\t2024-01-02",
    ]


async def test_a_page_past_the_end_is_empty_with_totals(server: PolarMCPServer) -> None:
    result = await call(server, {"page": 99, "limit": 10})
    assert not result.is_error
    data = result.structured_content
    assert data["customers"] == [] and data["total_count"] == 123 and data["max_page"] == 13
    assert data["next_page"] is None and data["has_more"] is False
    assert text_of(result) == (
        "No customers on page 99: the 123 that match fill pages 1 to 13 at limit=10. "
        "Call list_customers with page=13 or lower and the same filters."
    )


async def test_no_match_says_so(server: PolarMCPServer) -> None:
    result = await call(server, {"email": "nobody@example.invalid"})
    assert result.structured_content["total_count"] == 0
    assert text_of(result).startswith("No customers match.")


FILTERS = [
    (
        "email is exact and case-insensitive",
        {"email": "ADA.LOVELACE0@EXAMPLE.COM"},
        lambda c: (c["email"] or "").lower() == "ada.lovelace0@example.com",
    ),
    (
        "query matches external id prefix",
        {"query": "usr_1"},
        lambda c: (
            any("usr_1" in (c[k] or "").lower() for k in ("email", "name", "billing_name"))
            or (c["external_id"] or "").startswith("usr_1")
        ),
    ),
    (
        "metadata OR within a key",
        {"metadata": {"plan": ["pro", "team"]}},
        lambda c: c["metadata"].get("plan") in ("pro", "team"),
    ),
    (
        "metadata keys AND together",
        {"metadata": {"plan": "pro", "source": "twitter"}},
        lambda c: c["metadata"].get("plan") == "pro" and c["metadata"].get("source") == "twitter",
    ),
    ("foreign organization is an empty page", {"organization_id": OTHER_ORG}, lambda c: False),
]


@pytest.mark.parametrize(("name", "arguments", "predicate"), FILTERS, ids=[row[0] for row in FILTERS])
async def test_filters_select_what_polar_would(
    fake: FakePolar, customers: list[dict[str, Any]], name: str, arguments: dict[str, Any], predicate: Any
) -> None:
    result = await call(make_server(fake), {**arguments, "limit": 100})
    expected = {c["id"] for c in customers if predicate(c)}
    assert {c["id"] for c in result.structured_content["customers"]} == expected
    assert result.structured_content["total_count"] == len(expected)


async def test_sorting_by_name_orders_the_page(server: PolarMCPServer) -> None:
    result = await call(server, {"sorting": ["name"], "limit": 100})
    names = [c["name"].lower() for c in result.structured_content["customers"] if "name" in c]
    assert names == sorted(names)


# At least 25 bad inputs: each is a tool error naming the argument, and Polar receives nothing.
BAD_INPUTS = [
    ("limit zero", {"limit": 0}, "limit"),
    ("limit above 100", {"limit": 101}, "limit"),
    ("limit negative", {"limit": -5}, "limit"),
    ("limit fractional", {"limit": 2.5}, "limit"),
    ("limit text", {"limit": "ten"}, "limit"),
    ("page zero", {"page": 0}, "page"),
    ("page negative", {"page": -1}, "page"),
    ("page text", {"page": "first"}, "page"),
    ("malformed uuid", {"organization_id": "not-a-uuid"}, "organization_id"),
    ("malformed uuid in list", {"organization_id": [ORG, "123"]}, "organization_id"),
    ("organization id as number", {"organization_id": 42}, "organization_id"),
    ("unknown sort key", {"sorting": ["created"]}, "sorting"),
    ("sort key with wrong case", {"sorting": ["Name"]}, "sorting"),
    ("sorting as object", {"sorting": {"name": "asc"}}, "sorting"),
    ("nested metadata object", {"metadata": {"plan": {"tier": "pro"}}}, "metadata"),
    ("metadata float", {"metadata": {"score": 1.5}}, "metadata"),
    ("metadata empty list", {"metadata": {"plan": []}}, "metadata"),
    ("metadata list of objects", {"metadata": {"plan": [{"a": 1}]}}, "metadata"),
    ("metadata as list", {"metadata": ["plan", "pro"]}, "metadata"),
    ("metadata key with brackets", {"metadata": {"a[b]": "x"}}, "metadata"),
    ("metadata empty key", {"metadata": {"": "x"}}, "metadata"),
    (
        "metadata condition key twice",
        {"metadata": [{"key": "a", "value": 1}, {"key": "a", "value": 2}]},
        "metadata",
    ),
    ("metadata condition without value", {"metadata": [{"key": "plan"}]}, "metadata"),
    ("metadata condition with another key", {"metadata": [{"key": "a", "value": 1, "op": "eq"}]}, "metadata"),
    ("metadata condition value null", {"metadata": [{"key": "plan", "value": None}]}, "metadata"),
    ("metadata six conditions", {"metadata": [{"key": f"k{n}", "value": n} for n in range(6)]}, "metadata"),
    ("active not boolean", {"active": "sometimes"}, "active"),
    ("empty query", {"query": ""}, "query"),
    ("empty email", {"email": ""}, "email"),
    ("unknown response format", {"response_format": "full"}, "response_format"),
    ("unknown field", {"fields": ["phone"]}, "fields"),
    ("empty fields", {"fields": []}, "fields"),
    ("fields as text", {"fields": "email"}, "fields"),
    ("unknown argument external_id", {"external_id": "usr_42"}, "external_id"),
    ("unknown argument per_page", {"per_page": 50}, "per_page"),
    ("token as argument", {"access_token": "polar_oat_x"}, "access_token"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("name", "arguments", "argument"), BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS])
async def test_rejects_bad_input_before_any_request(
    fake: FakePolar, mode: str, name: str, arguments: dict[str, Any], argument: str
) -> None:
    result = await call(make_server(fake), arguments, mode)
    assert result.is_error
    text = text_of(result)
    assert argument in text
    assert "Nothing was sent to Polar" in text
    assert "Traceback" not in text and "pydantic" not in text and "Error executing tool" not in text
    assert fake.requests == []


async def test_bad_input_message_names_allowed_values(server: PolarMCPServer) -> None:
    assert "an integer from 1 to 100" in text_of(await call(server, {"limit": 101}))
    assert "created_at, -created_at, email, -email, name, -name" in text_of(
        await call(server, {"sorting": ["x"]})
    )
    external = text_of(await call(server, {"external_id": "usr_42"}))
    assert "use query with the external ID" in external and "get_customer with external_id" in external


async def test_server_keeps_serving_after_errors(fake: FakePolar) -> None:
    server = make_server(fake)
    fake.fail_next(
        Fault(status=200, body="<html>captive portal</html>", headers={"content-type": "text/html"})
    )
    async with Client(server) as client:
        first = await client.call_tool("list_customers", {"limit": 0})
        second = await client.call_tool("list_customers", {})
        third = await client.call_tool("list_customers", {})
    assert first.is_error and second.is_error and not third.is_error
    assert "not JSON" in text_of(second)


async def test_a_mistyped_tool_name_names_the_tools_that_exist(server: PolarMCPServer) -> None:
    with anyio.fail_after(10):
        async with Client(server, mode="legacy") as client:
            result = await client.call_tool("list_customer", {})
    assert result.is_error
    assert text_of(result).startswith("Unknown tool 'list_customer'. This server's tools are: list_customers")


async def test_an_empty_text_the_published_schema_no_longer_forbids_is_still_refused(
    server: PolarMCPServer,
) -> None:
    # "Not empty" is left out of the published schema (it tells a model nothing), never out of the checks.
    result = await call(server, {"email": ""})
    assert result.is_error and "Invalid argument email" in text_of(result)
