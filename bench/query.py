"""Whole-base question: "customers per country" with query_customers (cold and warm) and with a
list_customers walk, plus the resident memory a snapshot adds to the server."""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from typing import Any

import httpx

from bench.fixture import STATS_PATH, FakeServer
from bench.plan import Plan
from bench.report import Section, Target
from bench.servers import connect, find_child, our_server, rss_mib, text_of
from bench.stats import count_tokens, utf8_len
from polar_mcp.polar.endpoints import EXPORT

__all__ = ["COLD_LIMIT_S", "MEMORY_LIMIT_MIB", "SQL", "WARM_LIMIT_MS", "measure_query"]

SQL = "SELECT country, COUNT(*) AS customers FROM customers GROUP BY country ORDER BY customers DESC"
COLD_LIMIT_S = 3.0
WARM_LIMIT_MS = 50.0
MEMORY_LIMIT_MIB = 150.0
WALK_LIMIT = 100


async def _upstream_requests(fake: FakeServer) -> int:
    async with httpx.AsyncClient() as http:
        count: int = (await http.get(fake.url + STATS_PATH)).json()["requests"]
    return count


def _answer(result: Any) -> dict[str, int]:
    if result.is_error:
        raise RuntimeError(f"query_customers failed: {text_of(result)[:300]}")
    return {row[0] or "": row[1] for row in result.structured_content["rows"]}


async def measure_query(fake: FakeServer, plan: Plan) -> Section:
    """One server process: memory at start, the cold call, memory after, warm calls, then the walk."""
    customers = fake.dataset.customers
    section = Section(
        f'Whole-base question, {customers:,} customers: "customers per country"',
        ["way", "tool calls", "Polar requests", "text bytes", "text tokens", "seconds"],
    )
    warm_runs = 20 if plan.enforce else 5
    ours = our_server(fake)
    async with connect(ours, "polar-mcp-query") as client:
        await client.list_tools()
        pid = find_child(ours)
        rss_before = rss_mib(pid)
        before = await _upstream_requests(fake)
        start = time.perf_counter()
        cold = await client.call_tool("query_customers", {"sql": SQL})
        cold_s = time.perf_counter() - start
        cold_requests = await _upstream_requests(fake) - before
        answer = _answer(cold)
        rss_after = rss_mib(pid)
        text = text_of(cold)
        # One call answers it unless the rows overflow; then each further page is another call.
        calls = 1 + math.ceil(max(0, cold.structured_content["row_count"] - 200) / 200)
        warm: list[float] = []
        for _ in range(warm_runs):
            start = time.perf_counter()
            again = await client.call_tool("query_customers", {"sql": SQL})
            warm.append(time.perf_counter() - start)
            if _answer(again) != answer:
                raise RuntimeError("a warm answer differs from the cold one")
        warm_ms = statistics.median(warm) * 1000

        # The same answer the only other way: every customer through list_customers, with only the
        # country column (the leanest rows it offers), counted by whoever reads the pages.
        walk_counts: Counter[str] = Counter()
        walk_bytes = walk_tokens = walk_calls = 0
        before = await _upstream_requests(fake)
        start = time.perf_counter()
        page: int | None = 1
        while page is not None:
            result = await client.call_tool(
                "list_customers", {"limit": WALK_LIMIT, "page": page, "fields": ["country"]}
            )
            walk_calls += 1
            if result.is_error:
                raise RuntimeError(f"list_customers failed on page {page}: {text_of(result)[:300]}")
            page_text = text_of(result)
            walk_bytes += utf8_len(page_text)
            walk_tokens += count_tokens(page_text)
            walk_counts.update(c.get("country") or "" for c in result.structured_content["customers"])
            page = result.structured_content["next_page"]
        walk_s = time.perf_counter() - start
        walk_requests = await _upstream_requests(fake) - before
    if dict(walk_counts) != answer:
        raise RuntimeError("query_customers and the list_customers walk disagree on customers per country")
    # What Polar returns for the same data: the export the snapshot is made from, as a model would read
    # it if it were handed the raw answer.
    async with httpx.AsyncClient(timeout=120) as http:
        export = await http.get(fake.url + EXPORT.path, headers=fake.auth_headers())
        export.raise_for_status()
    raw_bytes, raw_tokens = len(export.content), count_tokens(export.text)

    text_bytes, text_tokens = utf8_len(text), count_tokens(text)
    section.add(
        "query_customers, cold (export, load, query)", calls, cold_requests, text_bytes, text_tokens, cold_s
    )
    section.add(
        f"query_customers, warm (median of {warm_runs})", 1, 0, text_bytes, text_tokens, warm_ms / 1000
    )
    section.add(
        f"list_customers walk (limit {WALK_LIMIT}, fields country)",
        walk_calls,
        walk_requests,
        walk_bytes,
        walk_tokens,
        walk_s,
    )
    section.add("raw: Polar's CSV export of the same customers (1 request)", "", 1, raw_bytes, raw_tokens, "")
    growth = rss_after - rss_before
    section.notes.append(
        f"server RSS {rss_before:.1f} MiB after start, {rss_after:.1f} MiB with the snapshot "
        f"(+{growth:.1f} MiB); the answer has {len(answer)} countries and matches the walk's."
    )
    section.figures |= {
        "query.customers": customers,
        "query.cold_s": cold_s,
        "query.cold_polar_requests": cold_requests,
        "query.warm_ms": warm_ms,
        "query.text_bytes": text_bytes,
        "query.text_tokens": text_tokens,
        "query.rss_before_mib": rss_before,
        "query.rss_after_mib": rss_after,
        "query.rss_growth_mib": growth,
        "query.walk_calls": walk_calls,
        "query.walk_text_bytes": walk_bytes,
        "query.walk_text_tokens": walk_tokens,
        "query.walk_s": walk_s,
        "query.raw_export_bytes": raw_bytes,
        "query.raw_export_tokens": raw_tokens,
    }
    section.targets += [
        Target("query: tool calls for customers per country", calls, 1),
        Target("query: Polar requests for the cold answer", cold_requests, 1, correctness=True),
        Target(f"query: cold answer <= {COLD_LIMIT_S:g} s", cold_s, COLD_LIMIT_S, unit=" s"),
        Target(f"query: warm answer <= {WARM_LIMIT_MS:g} ms", warm_ms, WARM_LIMIT_MS, unit=" ms"),
        Target(f"query: RSS growth <= {MEMORY_LIMIT_MIB:g} MiB", growth, MEMORY_LIMIT_MIB, unit=" MiB"),
        Target(
            f"walk for the same answer: calls = ceil(customers / {WALK_LIMIT})",
            walk_calls,
            math.ceil(customers / WALK_LIMIT),
        ),
    ]
    return section
