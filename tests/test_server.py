"""Every argument is bounded in the schema, and every failure of a tool, expected or not, reaches the
model as one or two sentences that say what to do, with the details in the log only."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import anyio
import httpx
import jsonschema
import pytest
from mcp import Client
from mcp_types import CallToolResult, TextContent

from polar_mcp.config import Settings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar
from polar_mcp.polar.client import PolarClient
from polar_mcp.server import build_server
from polar_mcp.tools import TOOLS
from polar_mcp.tools.base import Tool, ToolContext
from polar_mcp.tools.schema import NULL
from polar_mcp.views import CUSTOMERS_TABLE
from tests.conftest import make_server
from tests.helpers import caller, text_of

pytestmark = pytest.mark.anyio

call = caller("list_customers")


# Each row: what is out of bounds, the arguments, and the argument the error must name.
OUT_OF_BOUNDS = [
    ("limit true", {"limit": True}, "limit"),
    ("limit false", {"limit": False}, "limit"),
    ("page true", {"page": True}, "page"),
    ("organization_id true", {"organization_id": True}, "organization_id"),
    ("page beyond the last possible", {"page": 10**30}, "page"),
    ("page just past the bound", {"page": 100_001}, "page"),
    (
        "too many organizations",
        {"organization_id": [str(uuid.uuid4()) for _ in range(1200)]},
        "organization_id",
    ),
    ("eleven organizations", {"organization_id": [str(uuid.uuid4()) for _ in range(11)]}, "organization_id"),
    ("too many sort keys", {"sorting": ["name", "email", "created_at", "-name"]}, "sorting"),
    ("too many metadata keys", {"metadata": {f"k{i}": "v" for i in range(6)}}, "metadata"),
    ("too many metadata values", {"metadata": {"plan": [f"p{i}" for i in range(11)]}}, "metadata"),
    ("metadata value too long", {"metadata": {"plan": "x" * 201}}, "metadata"),
    ("metadata key too long", {"metadata": {"k" * 101: "x"}}, "metadata"),
    ("metadata integer too large", {"metadata": {"seats": 10**20}}, "metadata"),
    ("query too long", {"query": "q" * 501}, "query"),
    ("email too long", {"email": "e" * 321}, "email"),
]


@pytest.mark.parametrize(
    ("name", "arguments", "argument"), OUT_OF_BOUNDS, ids=[row[0] for row in OUT_OF_BOUNDS]
)
async def test_out_of_bounds_arguments_are_refused_before_any_request(
    fake: FakePolar, name: str, arguments: dict[str, Any], argument: str
) -> None:
    result = await call(make_server(fake), arguments)
    assert result.is_error
    text = text_of(result)
    assert f"Invalid argument {argument}" in text and "Nothing was sent to Polar" in text
    assert len(text) < 600 and "Error executing" not in text
    assert fake.requests == []


async def test_arguments_at_their_bounds_are_accepted(fake: FakePolar) -> None:
    arguments = {
        "organization_id": [str(uuid.uuid4()) for _ in range(10)],
        "sorting": ["name", "email", "-created_at"],
        "metadata": [{"key": f"k{i}", "value": ["v" * 200] * 10} for i in range(5)],
        "page": 100_000,
        "limit": 100,
    }
    result = await call(make_server(fake), arguments)
    assert not result.is_error, text_of(result)
    assert len(fake.requests) == 1


async def count(context: ToolContext, seats: int | str, flag: int | bool = 0) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=f"{seats!r} {flag!r}")])


COUNTING = Tool(
    name="count",
    title="Count",
    description="Counts.",
    handler=count,
    view=CUSTOMERS_TABLE,
    argument_hints={"seats": "a number or a text", "flag": "a number or a boolean"},
)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"seats": True}, "Invalid argument seats: got a boolean; seats must be a number or a text."),
        ({"seats": 3, "flag": True}, "3 True"),
    ],
    ids=["boolean for integer or text", "boolean for integer or boolean"],
)
async def test_a_boolean_is_refused_where_a_union_allows_integers_but_not_booleans(
    fake: FakePolar, monkeypatch: pytest.MonkeyPatch, arguments: dict[str, Any], expected: str
) -> None:
    config = Settings(access_token=DEFAULT_TOKEN)
    server = build_server(config, transport=httpx.MockTransport(fake), tools=(*TOOLS, COUNTING))
    with anyio.fail_after(10):
        async with Client(server) as client:
            listed = {tool.name: tool for tool in (await client.list_tools()).tools}
            result = await client.call_tool("count", arguments)
    properties = listed["count"].input_schema["properties"]
    assert properties["seats"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert properties["flag"] == {"default": 0, "anyOf": [{"type": "integer"}, {"type": "boolean"}, NULL]}
    assert text_of(result).startswith(expected)


class Boom(Exception):
    """Not one of ours: stands for any bug or library failure."""


@pytest.mark.parametrize(
    "failure",
    [
        Boom(f"secret {DEFAULT_TOKEN} inside"),
        RecursionError("deep"),
        KeyError("items"),
        UnicodeError("bad bytes here"),
    ],
    ids=["foreign", "recursion", "key", "unicode"],
)
async def test_an_unexpected_failure_is_two_sentences_and_a_logged_story(
    failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise failure

    settings = Settings(access_token=DEFAULT_TOKEN)
    server = build_server(settings, client=PolarClient(settings, transport=httpx.MockTransport(explode)))
    caplog.set_level(logging.ERROR)
    result = await call(server, {})
    assert result.is_error
    text = text_of(result)
    assert text.startswith(f"list_customers failed on an unexpected problem ({type(failure).__name__})")
    assert "Try the call again" in text and text.count(". ") <= 2
    assert "Error executing" not in text and DEFAULT_TOKEN not in text and str(failure) not in text
    assert "Traceback" in caplog.text and DEFAULT_TOKEN not in caplog.text


@pytest.mark.parametrize("argument", ["access_token", "token"])
@pytest.mark.parametrize("tool", ["list_customers", "get_customer", "query_customers"])
async def test_every_tool_says_where_the_token_comes_from_and_sends_nothing(
    fake: FakePolar, tool: str, argument: str
) -> None:
    with anyio.fail_after(10):
        async with Client(make_server(fake)) as client:
            result = await client.call_tool(tool, {argument: "polar_oat_x"})
    text = text_of(result)
    assert result.is_error
    assert "POLAR_ACCESS_TOKEN on the server, never passed as an argument" in text
    assert "polar_oat_x" not in text
    assert fake.requests == []


async def test_the_sample_notice_is_declared_only_where_results_carry_it(fake: FakePolar) -> None:
    calls: dict[str, dict[str, Any]] = {
        "list_customers": {"limit": 2},
        "get_customer": {"email": fake.customers[0]["email"]},
        "query_customers": {"sql": "SELECT count(*) AS n FROM customers"},
        "get_metrics": {"metrics": ["orders"]},
    }
    for demo in (False, True):
        async with Client(make_server(fake, demo=demo)) as client:
            listed = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert list(listed) == list(calls)
            for name, arguments in calls.items():
                schema = listed[name].output_schema
                assert schema is not None
                assert ("notice" in schema["properties"]) is demo, name
                result = await client.call_tool(name, arguments)
                assert not result.is_error, text_of(result)
                assert result.structured_content is not None
                assert ("notice" in result.structured_content) is demo, name
                jsonschema.validate(result.structured_content, schema)
