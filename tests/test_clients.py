"""The clients people use, with their own libraries: every published schema converts without an error and
without losing what a model needs, and every tool works through each converted schema.

- OpenAI strict mode, where every property is required and optional ones say null: the Agents SDK's MCP
  path (`convert_schemas_to_strict=True`, over stdio) and its `ensure_strict_json_schema`, LangChain's
  `convert_to_openai_tool(strict=True)` on the tool as langchain-mcp-adapters builds it, and pydantic-ai's
  OpenAI transformer in strict mode;
- Gemini: google-genai's `Schema.from_json_schema(raise_error_on_unsupported_field=True)` and its MCP
  path, and pydantic-ai's Google transformer;
- MCP Inspector's `--strict` schema portability check.

Each tool is called in-process through each strict schema with every optional argument null, then with
each one set in turn; the arguments are first checked against that converted schema, as the model's are.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jsonschema
import pytest
from mcp import Client
from mcp_types import Tool as MCPTool

from polar_mcp.config import Settings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar
from polar_mcp.demo.organization import sample_customers
from polar_mcp.polar.client import PolarClient
from polar_mcp.server import PolarMCPServer, build_server
from tests.conftest import TOOL_NAMES
from tests.helpers import ORG, call, no_sleep, text_of

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
ONE_IDENTIFIER = "Give exactly one of"  # get_customer's answer when no identifier is given


def metrics_too(fake: FakePolar) -> httpx.MockTransport:
    """The fake Polar, plus `GET /v1/metrics/` answering one period with 1 for each metric asked for."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v1/metrics/":
            return fake(request)
        slugs = parse_qs(request.url.query.decode()).get("metrics", [])
        period = {"timestamp": "2026-01-01T00:00:00Z", **dict.fromkeys(slugs, 1)}
        described = {slug: {"slug": slug, "type": "scalar"} for slug in slugs}
        return httpx.Response(200, json={"periods": [period], "totals": {}, "metrics": described})

    return httpx.MockTransport(handle)


@pytest.fixture
def fake() -> FakePolar:
    return FakePolar(sample_customers(40, seed=3))


@pytest.fixture
def server(fake: FakePolar) -> PolarMCPServer:
    settings = Settings(access_token=DEFAULT_TOKEN)
    client = PolarClient(settings, transport=metrics_too(fake), sleep=no_sleep, jitter=lambda: 0.5)
    return build_server(settings, client=client)


async def published(server: PolarMCPServer) -> list[MCPTool]:
    async with Client(server) as client:
        return list((await client.list_tools()).tools)


def samples(fake: FakePolar) -> dict[str, dict[str, Any]]:
    """A valid value for every optional argument of every tool, and the required ones, from the fake."""
    customer = next(c for c in fake.customers if c.get("email") and c.get("external_id"))
    product = fake.products[0]["id"]
    return {
        "list_customers": {
            "organization_id": ORG,
            "email": customer["email"],
            "query": customer["name"].split()[0],
            "active": True,
            "metadata": [{"key": "plan", "value": ["pro", "team"]}],
            "sorting": ["name"],
            "page": 2,
            "limit": 5,
            "fields": ["name", "email"],
            "response_format": "detailed",
        },
        "get_customer": {
            "id": customer["id"],
            "external_id": customer["external_id"],
            "email": customer["email"],
        },
        "query_customers": {"sql": "SELECT COUNT(*) FROM customers", "refresh": True, "organization_id": ORG},
        "get_metrics": {
            "metrics": ["revenue"],
            "start_date": "2026-01-01",
            "end_date": "2026-03-31",
            "interval": "week",
            "product_id": [product],
            "timezone": "Europe/Paris",
        },
    }


def agents_strict(tool: MCPTool) -> dict[str, Any]:
    from agents.strict_schema import ensure_strict_json_schema

    # As the Agents SDK's MCP path calls it: an open object anywhere makes the whole tool non-strict.
    return ensure_strict_json_schema(copy.deepcopy(tool.input_schema), _reject_open_objects=True)


def langchain_strict(tool: MCPTool) -> dict[str, Any]:
    from langchain_core.tools import StructuredTool
    from langchain_core.utils.function_calling import convert_to_openai_tool

    # What langchain-mcp-adapters makes of an MCP tool: its input schema, as a dict, is the args schema.
    structured = StructuredTool(
        name=tool.name,
        description=tool.description or "",
        args_schema=copy.deepcopy(tool.input_schema),
        func=lambda **_: None,
    )
    converted = convert_to_openai_tool(structured, strict=True)
    assert converted["function"]["strict"] is True
    parameters: dict[str, Any] = converted["function"]["parameters"]
    return parameters


def pydantic_ai_openai_strict(tool: MCPTool) -> dict[str, Any]:
    from pydantic_ai.profiles.openai import OpenAIJsonSchemaTransformer

    # strict=True, as a tool definition asking for strict mode gets it (left to decide, pydantic-ai sends
    # no tool with optional arguments in strict mode, whatever its schema).
    transformer = OpenAIJsonSchemaTransformer(copy.deepcopy(tool.input_schema), strict=True)
    converted = transformer.walk()
    assert transformer.is_strict_compatible
    return converted


STRICT: dict[str, Callable[[MCPTool], dict[str, Any]]] = {
    "openai-agents": agents_strict,
    "langchain-core": langchain_strict,
    "pydantic-ai openai": pydantic_ai_openai_strict,
}


def _descriptions(schema: Any) -> list[str]:
    if isinstance(schema, dict):
        own = [schema["description"]] if isinstance(schema.get("description"), str) else []
        return own + [text for value in schema.values() for text in _descriptions(value)]
    if isinstance(schema, list):
        return [text for item in schema for text in _descriptions(item)]
    return []


@pytest.mark.parametrize("converter", list(STRICT))
async def test_every_schema_converts_to_strict_mode_keeping_every_property_and_its_words(
    server: PolarMCPServer, converter: str
) -> None:
    for tool in await published(server):
        strict = STRICT[converter](tool)
        properties = tool.input_schema["properties"]
        assert strict["additionalProperties"] is False
        assert sorted(strict["required"]) == sorted(properties), tool.name
        assert list(strict["properties"]) == list(properties)
        for text in _descriptions(properties):  # pydantic-ai adds the keywords it moves into words
            assert any(text in kept for kept in _descriptions(strict["properties"])), (tool.name, text)


def argument_sets(tool: MCPTool, sample: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every argument present, as strict mode sends them: the optional ones null, then each one set."""
    required = set(tool.input_schema.get("required", ()))
    base = {name: sample[name] if name in required else None for name in tool.input_schema["properties"]}
    yield "every optional argument null", base
    for name in tool.input_schema["properties"]:
        if name not in required:
            yield f"{name} set", {**base, name: sample[name]}


@pytest.mark.parametrize("converter", list(STRICT))
async def test_every_tool_answers_through_the_strict_schema_with_nulls_and_each_argument_set(
    server: PolarMCPServer, fake: FakePolar, converter: str
) -> None:
    values = samples(fake)
    for tool in await published(server):
        strict = STRICT[converter](tool)
        checker = jsonschema.Draft202012Validator(strict, format_checker=jsonschema.FormatChecker())
        for case, arguments in argument_sets(tool, values[tool.name]):
            checker.validate(arguments)  # what the model may send through this schema
            result = await call(server, tool.name, arguments)
            text = text_of(result)
            if tool.name == "get_customer" and case == "every optional argument null":
                assert result.is_error and ONE_IDENTIFIER in text, text
                continue
            assert not result.is_error, (tool.name, case, text)


async def test_the_agents_sdk_over_stdio_converts_every_tool_to_strict_and_calls_it_with_nulls() -> None:
    from agents.mcp import MCPServerStdio, MCPUtil
    from agents.tool_context import ToolContext

    env = {key: value for key, value in os.environ.items() if not key.startswith("POLAR_")}
    params = {"command": sys.executable, "args": ["-m", "polar_mcp", "--demo"], "env": env, "cwd": str(ROOT)}
    async with MCPServerStdio(params=params, client_session_timeout_seconds=30) as stdio:  # type: ignore[arg-type]
        tools = await stdio.list_tools()
        assert [tool.name for tool in tools] == TOOL_NAMES
        converted = [MCPUtil.to_function_tool(tool, stdio, convert_schemas_to_strict=True) for tool in tools]
        assert [tool.strict_json_schema for tool in converted] == [True] * len(tools)
        listed = next(tool for tool in converted if tool.name == "list_customers")
        arguments = dict.fromkeys(listed.params_json_schema["properties"])
        arguments["query"] = "ada"
        payload = json.dumps(arguments)
        context = ToolContext(context=None, tool_name=listed.name, tool_call_id="1", tool_arguments=payload)
        answer = await listed.on_invoke_tool(context, payload)
    assert "Ada Lovelace" in str(answer) and "Invalid argument" not in str(answer)


# --- Gemini ---------------------------------------------------------------------------------------------


def _gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    from google.genai import types

    converted = types.Schema.from_json_schema(
        json_schema=types.JSONSchema.model_validate(copy.deepcopy(schema)),
        raise_error_on_unsupported_field=True,
    )
    dumped: dict[str, Any] = converted.model_dump(mode="json", exclude_none=True)
    return dumped


async def test_google_genai_converts_every_schema_and_keeps_every_property_description_and_enum(
    server: PolarMCPServer,
) -> None:
    for tool in await published(server):
        converted = _gemini_schema(tool.input_schema)
        properties = tool.input_schema["properties"]
        assert list(converted["properties"]) == list(properties)
        assert converted.get("required", []) == tool.input_schema.get("required", [])
        for name, prop in properties.items():
            kept = converted["properties"][name]
            for text in _descriptions({"p": prop}):
                assert text in _descriptions(kept), (tool.name, name, text)
            enums = [branch.get("items", branch).get("enum") for branch in prop.get("anyOf", [prop])]
            for enum in filter(None, enums):
                assert enum in [kept.get("enum"), kept.get("items", {}).get("enum")], (tool.name, name)
            optional = name not in tool.input_schema.get("required", [])
            assert kept.get("nullable", False) is optional or "any_of" in kept, (tool.name, name)


# google-genai's MCP path keeps the schema keywords whose names its own snake_case fields have, so the
# camelCase bounds go (the server still checks them, and its errors name them); nothing else may.
MCP_PATH_LOSES = frozenset({"max_length", "min_length", "max_items", "min_items"})


def _without(schema: Any, keys: frozenset[str]) -> Any:
    if isinstance(schema, dict):
        return {key: _without(value, keys) for key, value in schema.items() if key not in keys}
    if isinstance(schema, list):
        return [_without(item, keys) for item in schema]
    return schema


async def test_google_genais_mcp_path_converts_every_tool_losing_only_length_bounds(
    server: PolarMCPServer,
) -> None:
    from google.genai import _mcp_utils

    for tool, declared in zip(
        await published(server), _mcp_utils.mcp_to_gemini_tools(await published(server)), strict=True
    ):
        (function,) = declared.function_declarations or []
        assert function.name == tool.name and function.parameters is not None
        parameters = function.parameters.model_dump(mode="json", exclude_none=True)
        assert parameters == _without(_gemini_schema(tool.input_schema), MCP_PATH_LOSES)


async def test_pydantic_ais_google_transformer_keeps_every_property(server: PolarMCPServer) -> None:
    from pydantic_ai.profiles.google import GoogleJsonSchemaTransformer

    for tool in await published(server):
        converted = GoogleJsonSchemaTransformer(copy.deepcopy(tool.input_schema)).walk()
        assert list(converted["properties"]) == list(tool.input_schema["properties"])
        assert converted.get("required", []) == tool.input_schema.get("required", [])
        for text in _descriptions(tool.input_schema["properties"]):
            assert any(text in kept for kept in _descriptions(converted["properties"])), (tool.name, text)


# --- MCP Inspector ----------------------------------------------------------------------------------------


def test_mcp_inspectors_strict_portability_check_finds_nothing() -> None:
    inspector = ROOT / "node_modules" / ".bin" / "mcp-inspector"
    node_bin = ROOT / "node_modules" / ".bin"
    if not inspector.exists() or not (node_bin / "node").exists():
        if os.environ.get("REQUIRE_NODE_TOOLS") == "1":
            pytest.fail("MCP Inspector is not installed: run `npm ci` in the repository")
        pytest.skip("MCP Inspector is not installed (npm ci)")
    env = {key: value for key, value in os.environ.items() if not key.startswith("POLAR_")}
    env["PATH"] = f"{node_bin}{os.pathsep}{env.get('PATH', '')}"  # the Node.js 22 it needs
    command = [str(inspector), "--cli", sys.executable, "-m", "polar_mcp", "--demo"]
    done = subprocess.run(
        [*command, "--method", "tools/list", "--strict"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert [tool["name"] for tool in json.loads(done.stdout)["tools"]] == TOOL_NAMES
    assert "Warning:" not in done.stderr and "Error:" not in done.stderr, done.stderr[-3000:]
    assert shutil.which("node", path=env["PATH"]) == str(node_bin / "node")
