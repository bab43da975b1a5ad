"""Walk: page through every customer with limit 100 as the model would, following the `next:` line."""

from __future__ import annotations

import math
import re
import time
from typing import Any

import httpx

from bench.fixture import STATS_PATH, FakeServer
from bench.report import Section, Target
from bench.servers import OUR_TOOL, connect, our_server, text_of

__all__ = ["measure_walk"]

LIMIT = 100
NEXT = re.compile(r"^next: list_customers with page=(\d+)", re.MULTILINE)


def identity(customer: dict[str, Any]) -> str:
    """What names a customer in a concise row: the email, else the external ID, else the id."""
    return str(customer.get("email") or customer.get("external_id") or customer["id"])


def row_identities(text: str) -> list[str]:
    """Read each row of a concise page as the model would: columns name, email, external_id, ..., and a
    trailing id only on rows with neither email nor external ID."""
    found = []
    for line in text.splitlines():
        cells = line.split("\t")
        if len(cells) == 1:
            continue  # the summary line and the next call
        found.append(cells[1] or cells[2] or cells[-1])
    return found


async def _upstream_requests(fake: FakeServer) -> int:
    async with httpx.AsyncClient() as http:
        count: int = (await http.get(fake.url + STATS_PATH)).json()["requests"]
    return count


async def measure_walk(fake: FakeServer) -> Section:
    section = Section(
        f"Walk: every customer, limit {LIMIT}, following the text's next call",
        ["customers", "tool calls", "Polar requests", "seconds", "missed", "repeated", "extra"],
    )
    expected = [identity(c) for c in fake.dataset.generate() if c.get("deleted_at") is None]
    seen: list[str] = []
    calls = 0
    async with connect(our_server(fake), "polar-mcp") as client:
        await client.list_tools()
        before = await _upstream_requests(fake)
        start = time.perf_counter()
        page: int | None = 1
        while page is not None:
            result = await client.call_tool(OUR_TOOL, {"limit": LIMIT, "page": page})
            calls += 1
            text = text_of(result)
            if result.is_error:
                raise RuntimeError(f"list_customers failed on page {page}: {text[:300]}")
            # The model tells customers apart by what the rows show: email, external ID or id.
            seen += row_identities(text)
            found = NEXT.search(text)
            page = int(found.group(1)) if found else None
            if calls > len(expected):
                raise RuntimeError("the walk does not end: the next call never goes away")
        elapsed = time.perf_counter() - start
        upstream = await _upstream_requests(fake) - before
    missed = len(set(expected) - set(seen))
    repeated = len(seen) - len(set(seen))
    extra = len(set(seen) - set(expected))
    section.add(len(expected), calls, upstream, elapsed, missed, repeated, extra)
    pages = math.ceil(len(expected) / LIMIT)
    section.figures |= {
        "walk.customers": len(expected),
        "walk.calls": calls,
        "walk.upstream_requests": upstream,
        "walk.seconds": elapsed,
        "walk.missed": missed,
        "walk.repeated": repeated,
    }
    section.targets.append(
        Target("walk: customers missed, repeated or unknown", missed + repeated + extra, 0, correctness=True)
    )
    section.targets.append(Target(f"walk: tool calls <= ceil(customers / {LIMIT}) = {pages}", calls, pages))
    section.targets.append(Target("walk: Polar requests <= tool calls", upstream, calls))
    return section
