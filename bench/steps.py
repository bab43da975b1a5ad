"""Where one `list_customers` call spends its time, step by step, on the tool's own code path.

The server runs in-process against the fake over HTTP. Each step of the real path (the functions the
tool and its client call, looked up by name at call time) is wrapped with a clock for the duration
of the measurement, so the figures come from real calls, caches as cold as a real call leaves them,
and not from a loop over one step. What no step accounts for (the SDK's dispatch and result models, the
argument checks, the tool's glue) is the remainder of the whole call.
"""

from __future__ import annotations

import inspect
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from functools import wraps
from typing import Any

import polar_mcp.polar.client
import polar_mcp.tools.list_customers
from bench.fixture import FakeServer
from bench.plan import Plan
from bench.report import Section
from bench.servers import OUR_TOOL
from polar_mcp.config import Settings
from polar_mcp.server import build_server

__all__ = ["STEPS", "measure_steps"]

WARMUP = 5

# (module, name, what the step is): looked up by name at call time by the tool and its client.
STEPS: list[tuple[Any, str, str]] = [
    (polar_mcp.polar.client, "_parse_json", "JSON parse"),
    (polar_mcp.polar.client, "_too_deep", "nesting depth check"),
    (polar_mcp.polar.client, "json_needs_cleaning", "control/invisible character check"),
    (polar_mcp.polar.client, "clean_value", "cleaning (only when the check finds something)"),
    (polar_mcp.polar.client, "parse_page", "page envelope check"),
    (polar_mcp.tools.list_customers, "summarize", "concise records (summarize)"),
    (polar_mcp.tools.list_customers, "render_page", "text rendering (render_page)"),
]
_GET_JSON = "request, headers and body (HTTP, wall time)"


@contextmanager
def _clocked(owner: Any, name: str, spent: dict[str, float]) -> Iterator[None]:
    """Add the seconds every call of `owner.name` takes (a function or a coroutine method) to
    `spent[name]`, until the block ends."""
    original = getattr(owner, name)

    def add(start: float) -> None:
        spent[name] = spent.get(name, 0.0) + time.perf_counter() - start

    if inspect.iscoroutinefunction(original):

        @wraps(original)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                add(start)

    else:

        @wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                add(start)

    setattr(owner, name, timed)
    try:
        yield
    finally:
        setattr(owner, name, original)


async def _per_call(
    call: Callable[[], Awaitable[Any]], calls: int
) -> tuple[list[dict[str, float]], list[float]]:
    """Each call's seconds per step, and each call's total seconds."""
    spent: dict[str, float] = {}
    steps: list[dict[str, float]] = []
    totals: list[float] = []
    with ExitStack() as stack:
        for module, name, _ in STEPS:
            stack.enter_context(_clocked(module, name, spent))
        stack.enter_context(_clocked(polar_mcp.polar.client.PolarClient, "_get_json", spent))
        for index in range(WARMUP + calls):
            spent.clear()
            start = time.perf_counter()
            await call()
            total = time.perf_counter() - start
            if index >= WARMUP:
                steps.append(dict(spent))
                totals.append(total)
    return steps, totals


async def measure_steps(fake: FakeServer, plan: Plan) -> Section:
    section = Section(
        "Where a call's time goes (in-process, the tool's own path; median ms per call)",
        ["step", *(f"limit {limit} ms" for limit in plan.limits)],
        notes=[
            "Each step of real calls timed where the tool calls it. HTTP: the request to the fake and the",
            "body read, minus the steps inside them. rest: the SDK's dispatch and result models, argument",
            "checks and the tool's glue. Over stdio a call also pays the JSON-RPC hop and the client.",
        ],
    )
    server = build_server(Settings(access_token=fake.token, server_url=fake.url))
    labels = {
        "http": _GET_JSON,
        **{name: label for _, name, label in STEPS},
        "rest": "rest",
        "whole": "whole call",
    }
    # Steps that run inside the client's `_get_json`; the others run after it.
    inner = {name for module, name, _ in STEPS if module is polar_mcp.polar.client and name != "parse_page"}
    columns: dict[str, dict[int, float]] = {key: {} for key in labels}
    try:
        for limit in plan.limits:

            async def call(limit: int = limit) -> None:
                await server.call_tool(OUR_TOOL, {"limit": limit})  # a failure raises

            steps, totals = await _per_call(call, plan.latency_calls)
            rows: dict[str, list[float]] = {key: [] for key in labels}
            for spent, total in zip(steps, totals, strict=True):
                fetch = spent.get("_get_json", 0.0)
                rows["http"].append(fetch - sum(spent.get(name, 0.0) for name in inner))
                for _, name, _ in STEPS:
                    rows[name].append(spent.get(name, 0.0))
                outer = sum(spent.get(name, 0.0) for _, name, _ in STEPS if name not in inner)
                rows["rest"].append(total - fetch - outer)
                rows["whole"].append(total)
            for key, values in rows.items():
                median = statistics.median(values) * 1000
                columns[key][limit] = median
                section.figures[f"steps.limit{limit}.{key.strip('_')}_ms"] = median
    finally:
        await server.polar.aclose()
    for key, per_limit in columns.items():
        section.add(labels[key], *(per_limit[limit] for limit in plan.limits))
    return section
