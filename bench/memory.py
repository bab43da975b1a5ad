"""Memory: resident size of the spawned `polar-mcp` after start and along many calls; it must level off."""

from __future__ import annotations

from bench.fixture import FakeServer
from bench.plan import Plan
from bench.report import Section, Target
from bench.servers import OUR_TOOL, connect, find_child, our_server, rss_mib, text_of

__all__ = ["GROWTH_BUDGET_MIB", "measure_memory"]

GROWTH_BUDGET_MIB = 2.0
"""Target: RSS grows at most this much over the second half of the calls (it has levelled off)."""
LIMIT = 100


async def measure_memory(fake: FakeServer, plan: Plan) -> Section:
    total = plan.memory_calls
    checkpoints = sorted({total // 10, total // 4, total // 2, total * 3 // 4, total})
    section = Section(
        f"Memory of the polar-mcp process (VmRSS; calls of limit {LIMIT}, cycling pages)",
        ["after", "RSS MiB", "growth MiB"],
    )
    pages = max(1, fake.dataset.customers // LIMIT)
    ours = our_server(fake)
    async with connect(ours, "polar-mcp") as client:
        await client.list_tools()
        pid = find_child(ours)
        start = rss_mib(pid)
        section.add("start (initialize + tools/list)", start, "")
        rss: dict[int, float] = {}
        for call in range(1, total + 1):
            result = await client.call_tool(OUR_TOOL, {"limit": LIMIT, "page": (call - 1) % pages + 1})
            if result.is_error:
                raise RuntimeError(f"list_customers failed: {text_of(result)[:300]}")
            if call in checkpoints:
                rss[call] = rss_mib(pid)
                section.add(f"{call} calls", rss[call], rss[call] - start)
    half = total // 2
    late_growth = rss[total] - rss[half]
    section.figures |= {
        "memory.start_mib": start,
        f"memory.after_{half}_mib": rss[half],
        "memory.after_all_mib": rss[total],
        "memory.late_growth_mib": late_growth,
        "memory.calls": total,
    }
    section.targets.append(
        Target(
            f"RSS growth from {half} to {total} calls <= {GROWTH_BUDGET_MIB:g} MiB",
            late_growth,
            GROWTH_BUDGET_MIB,
            unit=" MiB",
        )
    )
    return section
