"""Latency of one `list_customers` call over stdio, next to a direct HTTP call, and its split into the
HTTP call, the SDK's floor (bench/floor.py) and our own share; bench/steps.py shows where our own goes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bench.fixture import FakeServer
from bench.floor import floor_server
from bench.plan import Plan
from bench.report import Section, Target
from bench.servers import OUR_TOOL, RESULTS_DIR, connect, cpu_seconds, find_child, our_server, text_of
from bench.stats import median_ms, p95_ms

__all__ = ["OWN_BUDGET_MS", "interleaved", "measure_latency"]

WARMUP = 3
OWN_BUDGET_MS = 1.0
"""Target: what polar-mcp adds to a limit-100 call beyond the HTTP call and the SDK's own cost."""


async def interleaved(calls: dict[str, Callable[[], Awaitable[Any]]], count: int) -> dict[str, list[float]]:
    """Durations in seconds of `count` rounds of every call, the order rotating each round so that drift
    and load hit every call alike; round i of each list belongs together."""
    names = list(calls)
    for _ in range(WARMUP):
        for name in names:
            await calls[name]()
    durations: dict[str, list[float]] = {name: [] for name in names}
    for i in range(count):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            start = time.perf_counter()
            await calls[name]()
            durations[name].append(time.perf_counter() - start)
    return durations


async def measure_latency(fake: FakeServer, plan: Plan) -> list[Section]:
    section = Section(
        "Latency per call (concise, page 1)",
        ["limit", "path", "median ms", "p95 ms"],
    )
    split = Section(
        "Per-call time split: HTTP call, SDK floor, our own (over stdio, calls interleaved)",
        [
            "limit",
            "HTTP call ms",
            "SDK floor ms",
            "our own ms",
            "polar-mcp ms",
            "HTTP client CPU ms",
            "SDK floor CPU ms",
            "our own CPU ms",
        ],
        notes=[
            "HTTP call: a direct httpx call to the fake. SDK floor: the same result (text and",
            "structuredContent) from a minimal server on the same SDK that does no work (bench/floor.py),",
            "over stdio. our own: median over rounds of polar-mcp minus floor minus HTTP call (wall time).",
            "CPU columns: per call, the httpx client's CPU in this process, the floor server's, and",
            "polar-mcp's server process minus both: what our code costs, unaffected by other load.",
        ],
    )
    server = our_server(fake)
    async with httpx.AsyncClient() as http, connect(server, "polar-mcp") as stdio:
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

            stored = RESULTS_DIR / f"floor-limit{limit}.json"
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            sample = await stdio.call_tool(OUR_TOOL, args)
            stored.write_text(sample.model_dump_json(by_alias=True, exclude_none=True), encoding="utf-8")
            direct_cpu = [0.0]

            async def direct_counted(direct_cpu: list[float] = direct_cpu) -> None:
                start = time.process_time()
                await direct()
                direct_cpu[0] += time.process_time() - start

            floor_params = floor_server(stored)
            async with connect(floor_params, "floor") as floor:

                async def at_floor(args: dict[str, Any] = args, expected: Any = sample) -> None:
                    result = await floor.call_tool(OUR_TOOL, args)
                    if result.structured_content != expected.structured_content:
                        raise RuntimeError("the floor server returned something else than the stored result")

                pids = {"stdio": find_child(server), "floor": find_child(floor_params)}
                cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                times = await interleaved(
                    {"direct": direct_counted, "stdio": over_stdio, "floor": at_floor}, n
                )
                calls = WARMUP + n
                cpu = {name: (cpu_seconds(pid) - cpu_before[name]) / calls for name, pid in pids.items()}
            raw, ours, bare = times["direct"], times["stdio"], times["floor"]
            own = [o - f - d for o, f, d in zip(ours, bare, raw, strict=True)]
            own_cpu_ms = (cpu["stdio"] - cpu["floor"] - direct_cpu[0] / calls) * 1000
            split.add(
                limit,
                median_ms(raw),
                median_ms(bare),
                median_ms(own),
                median_ms(ours),
                direct_cpu[0] / calls * 1000,
                cpu["floor"] * 1000,
                own_cpu_ms,
            )
            section.figures |= {
                f"latency.limit{limit}.floor.median_ms": median_ms(bare),
                f"latency.limit{limit}.own.median_ms": median_ms(own),
                f"latency.limit{limit}.own.cpu_ms": own_cpu_ms,
                f"latency.limit{limit}.floor.cpu_ms": cpu["floor"] * 1000,
                f"latency.limit{limit}.stdio.cpu_ms": cpu["stdio"] * 1000,
                f"latency.limit{limit}.direct.cpu_ms": direct_cpu[0] / calls * 1000,
            }
            if limit == 100:
                split.targets.append(
                    Target("limit 100: our own CPU time per call <= 1 ms", own_cpu_ms, OWN_BUDGET_MS, " ms")
                )
            section.add(limit, "direct HTTP (httpx, keep-alive)", median_ms(raw), p95_ms(raw))
            section.add(limit, "polar-mcp over stdio (MCP client)", median_ms(ours), p95_ms(ours))
            section.add(limit, "overhead (stdio - direct)", median_ms(ours) - median_ms(raw), "")
            for name, values in (("direct", raw), ("stdio", ours)):
                section.figures[f"latency.limit{limit}.{name}.median_ms"] = median_ms(values)
                section.figures[f"latency.limit{limit}.{name}.p95_ms"] = p95_ms(values)

    return [section, split]
