"""The prompts a merchant picks from a menu, the cache hints on list and read results, and the result size
each tool declares for Claude Code."""

from __future__ import annotations

import re

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import CacheableResult, TextContent

from polar_mcp.server import CACHE_TTL_MS, MAX_RESULT_CHARS, RESULT_SIZE_KEY, PolarMCPServer
from polar_mcp.views import VIEWS
from tests.conftest import TOOL_NAMES
from tests.helpers import MODES

pytestmark = pytest.mark.anyio

PROMPTS = {
    "monthly_revenue_review": ({"month": "2026-10"}, "the month 2026-10"),
    "churn_review": ({"months": "6"}, "the last 6 months"),
    "customer_brief": ({"email": "ada@example.com"}, "ada@example.com"),
}


@pytest.mark.parametrize("mode", MODES)
async def test_the_prompts_are_listed_with_titles_and_their_arguments(
    server: PolarMCPServer, mode: str
) -> None:
    with anyio.fail_after(10):
        async with Client(server, mode=mode) as client:
            listed = (await client.list_prompts()).prompts
    assert [prompt.name for prompt in listed] == list(PROMPTS)
    assert all(prompt.title and prompt.description for prompt in listed)
    arguments = {prompt.name: [(a.name, a.required) for a in prompt.arguments or []] for prompt in listed}
    assert arguments == {
        "monthly_revenue_review": [("month", False)],
        "churn_review": [("months", False)],
        "customer_brief": [("email", True)],
    }


@pytest.mark.parametrize("name", list(PROMPTS))
async def test_each_prompt_is_one_short_instruction_naming_tools_that_exist(
    server: PolarMCPServer, name: str
) -> None:
    arguments, shown = PROMPTS[name]
    with anyio.fail_after(10):
        async with Client(server) as client:
            given = await client.get_prompt(name, arguments)
            bare = await client.get_prompt(name, {}) if name != "customer_brief" else given
    for result in (given, bare):
        (message,) = result.messages
        assert message.role == "user" and isinstance(message.content, TextContent)
        text = message.content.text
        assert len(text) < 700
        named = set(re.findall(r"\b[a-z]+_[a-z_]+\b", text)) & {*TOOL_NAMES, "list_customer", "get_metric"}
        assert named and named <= set(TOOL_NAMES), named
    assert isinstance(given.messages[0].content, TextContent) and shown in given.messages[0].content.text


@pytest.mark.parametrize(
    ("name", "arguments"),
    [("customer_brief", {}), ("customer_brief", {"email": ""}), ("churn_review", {"months": "99"})],
)
async def test_a_prompt_refuses_a_missing_or_bad_argument(
    server: PolarMCPServer, name: str, arguments: dict[str, str]
) -> None:
    with anyio.fail_after(10):
        async with Client(server) as client:
            with pytest.raises(MCPError):
                await client.get_prompt(name, arguments)


async def test_list_and_read_results_may_be_cached_by_anyone_for_an_hour(server: PolarMCPServer) -> None:
    with anyio.fail_after(10):
        async with Client(server) as client:
            results: list[CacheableResult] = [
                await client.list_tools(),
                await client.list_prompts(),
                await client.list_resources(),
                await client.read_resource(VIEWS[0].uri),
            ]
    for result in results:
        assert (result.ttl_ms, result.cache_scope) == (CACHE_TTL_MS, "public"), type(result).__name__


async def test_tools_whose_results_can_be_long_say_so_for_claude_code(server: PolarMCPServer) -> None:
    with anyio.fail_after(10):
        async with Client(server) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    declared = {name: (tool.meta or {}).get(RESULT_SIZE_KEY) for name, tool in tools.items()}
    assert {name: size for name, size in declared.items() if size is not None} == MAX_RESULT_CHARS
    assert set(MAX_RESULT_CHARS) == {"list_customers", "query_customers"}
    assert all(size > 50_000 for size in MAX_RESULT_CHARS.values())  # Claude Code's own threshold
    assert all((tool.meta or {}).get("ui") for tool in tools.values())  # the views stay declared
