"""Latency of one `list_customers` call over stdio, next to a direct HTTP call, and where the difference goes.

The breakdown times the same call at growing depth, in-process, against the same fake over HTTP:
Polar's endpoint alone, our Polar client, the tool through the SDK's `call_tool`, an in-process MCP
client, and finally the stdio process. Each step's median minus the previous one is its share.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from mcp import Client

from bench.fixture import FakeServer
from bench.plan import Plan
from bench.report import Section
from bench.servers import OUR_TOOL, connect, our_server, text_of
from bench.stats import median_ms, p95_ms
from polar_mcp.config import Settings
from polar_mcp.models import summarize
from polar_mcp.polar import PolarClient
from polar_mcp.query import CustomerQuery
from polar_mcp.server import build_server
from polar_mcp.tools.list_customers import render_page

__all__ = ["measure_latency", "time_calls"]

WARMUP = 3


async def time_calls(call: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    """Durations in seconds of `count` calls, after a few untimed warm-up calls."""
    for _ in range(WARMUP):
        await call()
    durations = []
    for _ in range(count):
        start = time.perf_counter()
        await call()
        durations.append(time.perf_counter() - start)
    return durations


def _shape(page: dict[str, Any], limit: int) -> Callable[[], Awaitable[None]]:
    """Our pure shaping step (summaries plus rendered text) for one fetched page, as the tool does it."""

    async def shape() -> None:
        records = [summarize(item) for item in page["items"]]
        result = {
            "customers": records,
            "page": 1,
            "limit": limit,
            "total_count": 1,
            "max_page": 1,
            "has_more": False,
            "next_page": None,
        }
        render_page(result, "concise", {})

    return shape


async def measure_latency(fake: FakeServer, plan: Plan) -> list[Section]:
    section = Section(
        "Latency per call (concise, page 1)",
        ["limit", "path", "median ms", "p95 ms"],
    )
    breakdown = Section(
        "Where a call's time goes (medians; each step minus the one before)",
        ["step", *(f"limit {limit} ms" for limit in plan.limits)],
        notes=["In-process steps use the same fake over HTTP; differences of medians are approximate."],
    )
    steps: dict[str, dict[int, float]] = {}
    settings = Settings(access_token=fake.token, server_url=fake.url)
    server = build_server(settings)
    polar = PolarClient(settings)
    async with (
        httpx.AsyncClient() as http,
        connect(our_server(fake), "polar-mcp") as stdio,
        Client(server) as inproc,
    ):
        for limit in plan.limits:
            args = {"limit": limit}
            n = plan.latency_calls

            async def direct(limit: int = limit) -> None:
                (
                    await http.get(fake.customers_url, params={"limit": limit}, headers=fake.auth_headers())
                ).raise_for_status()

            async def over_stdio(args: dict[str, Any] = args) -> None:
                result = await stdio.call_tool(OUR_TOOL, args)
                if result.is_error:
                    raise RuntimeError(f"list_customers failed: {text_of(result)[:300]}")

            async def in_process(args: dict[str, Any] = args) -> None:
                await inproc.call_tool(OUR_TOOL, args)

            async def tool_only(args: dict[str, Any] = args) -> None:
                await server.call_tool(OUR_TOOL, args)

            async def our_client(limit: int = limit) -> None:
                await polar.list_customers(CustomerQuery(limit=limit))

            raw = await time_calls(direct, n)
            ours = await time_calls(over_stdio, n)
            section.add(limit, "direct HTTP (httpx, keep-alive)", median_ms(raw), p95_ms(raw))
            section.add(limit, "polar-mcp over stdio (MCP client)", median_ms(ours), p95_ms(ours))
            section.add(limit, "overhead (stdio - direct)", median_ms(ours) - median_ms(raw), "")
            for name, values in (("direct", raw), ("stdio", ours)):
                section.figures[f"latency.limit{limit}.{name}.median_ms"] = median_ms(values)
                section.figures[f"latency.limit{limit}.{name}.p95_ms"] = p95_ms(values)

            page = (
                await http.get(fake.customers_url, params={"limit": limit}, headers=fake.auth_headers())
            ).json()
            stdio_result = await stdio.call_tool(OUR_TOOL, args)

            async def validate(result: Any = stdio_result) -> None:
                await stdio.session.validate_tool_result(OUR_TOOL, result)

            medians = {
                "client": median_ms(await time_calls(our_client, n)),
                "shape": median_ms(await time_calls(_shape(page, limit), n)),
                "tool": median_ms(await time_calls(tool_only, n)),
                "inproc": median_ms(await time_calls(in_process, n)),
                "validate": median_ms(await time_calls(validate, n)),
            }
            direct_ms, stdio_ms = median_ms(raw), median_ms(ours)
            rows = {
                "Polar endpoint over HTTP (direct httpx)": direct_ms,
                "our Polar client: JSON parse + envelope check": medians["client"] - direct_ms,
                "our shaping: summarize + render (pure)": medians["shape"],
                "SDK tool dispatch: argument and result models": medians["tool"]
                - medians["client"]
                - medians["shape"],
                "SDK in-process session + client result handling": medians["inproc"] - medians["tool"],
                "  of which client outputSchema validation": medians["validate"],
                "stdio: JSON-RPC encode/decode, pipes, 2 processes": stdio_ms - medians["inproc"],
                "total over stdio": stdio_ms,
            }
            for name, value in rows.items():
                steps.setdefault(name, {})[limit] = value
            for key, value in medians.items():
                section.figures[f"latency.limit{limit}.breakdown.{key}_ms"] = value
    await polar.aclose()
    await server.polar.aclose()
    for name, per_limit in steps.items():
        breakdown.add(name, *(per_limit[limit] for limit in plan.limits))
    return [section, breakdown]
