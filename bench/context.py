"""Context cost: the bytes (and estimated tokens) the model reads per page, next to Polar's raw JSON."""

from __future__ import annotations

import httpx

from bench.fixture import FakeServer
from bench.plan import Plan
from bench.report import Section, Target
from bench.servers import OUR_TOOL, connect, our_server, text_of
from bench.stats import estimate_tokens, utf8_len

__all__ = ["CONCISE_SHARE", "measure_context"]

CONCISE_SHARE = 0.20
"""Target: the concise page costs at most this share of the raw API JSON of the same page."""


async def measure_context(fake: FakeServer, plan: Plan) -> Section:
    section = Section(
        "Context cost per page (what the model reads: the tool result's text)",
        ["limit", "what", "bytes", "~tokens", "% of raw", "JSON-RPC result bytes"],
        notes=[
            "~tokens = ceil(UTF-8 bytes / 4); JSON-RPC result bytes = the whole result on the wire,",
            "including structuredContent, which clients may or may not show the model.",
        ],
    )
    async with httpx.AsyncClient() as http, connect(our_server(fake), "polar-mcp") as client:
        for limit in plan.limits:
            response = await http.get(
                fake.customers_url, params={"limit": limit}, headers=fake.auth_headers()
            )
            response.raise_for_status()
            raw = len(response.content)
            section.add(limit, "raw API JSON", raw, estimate_tokens(raw), "100%", "-")
            section.figures[f"context.limit{limit}.raw.bytes"] = raw
            for fmt in ("concise", "detailed"):
                result = await client.call_tool(OUR_TOOL, {"limit": limit, "response_format": fmt})
                if result.is_error:
                    raise RuntimeError(f"list_customers failed: {text_of(result)[:300]}")
                size = utf8_len(text_of(result))
                wire = utf8_len(result.model_dump_json(by_alias=True, exclude_none=True))
                share = size / raw
                section.add(limit, fmt, size, estimate_tokens(size), f"{share:.1%}", wire)
                section.figures[f"context.limit{limit}.{fmt}.bytes"] = size
                section.figures[f"context.limit{limit}.{fmt}.tokens"] = estimate_tokens(size)
                section.figures[f"context.limit{limit}.{fmt}.share_of_raw"] = share
                section.figures[f"context.limit{limit}.{fmt}.wire_bytes"] = wire
                bound = CONCISE_SHARE if fmt == "concise" else 1.0
                section.targets.append(
                    Target(f"limit {limit} {fmt} <= {bound:.0%} of raw", share * 100, bound * 100, unit="%")
                )
    return section
