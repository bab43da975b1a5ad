"""Context cost: the tokens the model reads, per tool list and per result, next to Polar's raw JSON."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Any

import httpx
from mcp import Client
from mcp_types import ListToolsResult

from bench.fixture import FakeServer
from bench.plan import Plan
from bench.report import Section, Target
from bench.servers import OUR_TOOL, connect, our_server, text_of
from bench.stats import ENCODING, count_tokens, json_tokens, utf8_len
from polar_mcp.config import Settings
from polar_mcp.demo import DEMO_SERVER_URL
from polar_mcp.demo.billing import STATE_STATUSES, sample_holdings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar
from polar_mcp.demo.organization import demo_customers
from polar_mcp.server import PolarMCPServer, build_server

__all__ = [
    "CARD_SHARE",
    "DETAILED_SHARE",
    "GET_CUSTOMER_BUDGET",
    "GET_METRICS_BUDGET",
    "METRICS_ANSWER_BUDGET",
    "PAGE_SHARES",
    "TOOL_LIST_BUDGET",
    "measure_context",
]

PAGE_SHARES = {10: 0.18, 100: 0.15}
"""Targets: a concise page costs at most this share of the tokens of Polar's raw JSON for the same page."""
DETAILED_SHARE = 1.0
"""Target: a detailed page never costs more tokens than the raw JSON."""
TOOL_LIST_BUDGET = 2400
"""Target: tools/list, every tool together, in tokens; every conversation pays it up front."""
GET_CUSTOMER_BUDGET = 450
"""Target: get_customer's own tools/list entry, in tokens."""
GET_METRICS_BUDGET = 450
"""Target: get_metrics' own tools/list entry, in tokens."""
METRICS_ANSWER_BUDGET = 400
"""Target: a 12-month get_metrics answer for three metrics, in tokens."""
METRICS_DAY = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
"""The day the metrics answers are measured on: the sample organization's figures grow with the day."""
CARD_SHARE = 0.25
"""Target: a customer card costs at most this share of the tokens of Polar's raw state JSON."""


async def measure_context(fake: FakeServer, plan: Plan) -> list[Section]:
    async with connect(our_server(fake), "polar-mcp") as client:
        tools = await _tool_list(client)
        pages = await _pages(client, fake, plan)
        card = await _card(client, fake)
    return [tools, pages, card, await _metrics_answers()]


async def _tool_list(client: Client) -> Section:
    section = Section(
        f"Tool list ({ENCODING} tokens of the tools/list result, paid once per conversation)",
        ["tool", "tokens", "compact JSON tokens", "bytes"],
        notes=[
            "tokens: the entry as JSON with ', ' and ': ' separators, as clients print it; compact JSON",
            "tokens: as it travels. Each entry holds name, title, description, annotations and both schemas.",
        ],
    )
    listed = await client.list_tools()
    for tool in listed.tools:
        entry = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
        compact = tool.model_dump_json(by_alias=True, exclude_none=True)
        section.add(tool.name, json_tokens(entry), count_tokens(compact), utf8_len(compact))
        section.figures[f"context.tools_list.{tool.name}.tokens"] = json_tokens(entry)
        budget = {"get_customer": GET_CUSTOMER_BUDGET, "get_metrics": GET_METRICS_BUDGET}.get(tool.name)
        if budget is not None:
            section.targets.append(
                Target(f"{tool.name} entry <= {budget} tokens", json_tokens(entry), budget)
            )
    total, compact_tokens, compact_bytes = _whole_list(listed)
    section.add(f"all {len(listed.tools)} tools", total, compact_tokens, compact_bytes)
    section.figures["context.tools_list.tokens"] = total
    section.figures["context.tools_list.compact_tokens"] = compact_tokens
    section.targets.append(
        Target(f"tools/list, every tool <= {TOOL_LIST_BUDGET:,} tokens", total, TOOL_LIST_BUDGET)
    )
    # Demo mode publishes each result's sample-data notice too.
    async with Client(_sample_server(demo=True)) as demo_client:
        demo_total, demo_compact_tokens, demo_bytes = _whole_list(await demo_client.list_tools())
    section.add("all, demo mode", demo_total, demo_compact_tokens, demo_bytes)
    section.figures["context.tools_list.demo_tokens"] = demo_total
    section.targets.append(
        Target(f"tools/list in demo mode <= {TOOL_LIST_BUDGET:,} tokens", demo_total, TOOL_LIST_BUDGET)
    )
    return section


def _whole_list(listed: ListToolsResult) -> tuple[int, int, int]:
    """The whole tools/list result's tokens as clients print it, and its compact tokens and bytes."""
    compact = listed.model_dump_json(by_alias=True, exclude_none=True)
    whole = listed.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json_tokens(whole), count_tokens(compact), utf8_len(compact)


async def _pages(client: Client, fake: FakeServer, plan: Plan) -> Section:
    section = Section(
        f"Context cost per result ({ENCODING} tokens of the text the model reads, next to Polar's raw JSON)",
        ["result", "tokens", "% of raw", "bytes", "JSON-RPC result bytes"],
        notes=[
            "raw = the body Polar returns for the same data, fetched directly; JSON-RPC result bytes =",
            "the whole result on the wire, with structuredContent, which a client may or may not show.",
        ],
    )
    async with httpx.AsyncClient() as http:
        for limit in plan.limits:
            response = await http.get(
                fake.customers_url, params={"limit": limit}, headers=fake.auth_headers()
            )
            response.raise_for_status()
            raw = count_tokens(response.text)
            section.add(f"page of {limit}: raw API JSON", raw, "100%", len(response.content), "-")
            section.figures[f"context.limit{limit}.raw.tokens"] = raw
            section.figures[f"context.limit{limit}.raw.bytes"] = len(response.content)
            for fmt in ("concise", "detailed"):
                text, wire = await _call(client, OUR_TOOL, {"limit": limit, "response_format": fmt})
                tokens = count_tokens(text)
                share = tokens / raw
                section.add(f"page of {limit}: {fmt}", tokens, f"{share:.1%}", utf8_len(text), wire)
                prefix = f"context.limit{limit}.{fmt}"
                section.figures |= {
                    f"{prefix}.tokens": tokens,
                    f"{prefix}.share_of_raw": share,
                    f"{prefix}.bytes": utf8_len(text),
                    f"{prefix}.wire_bytes": wire,
                }
                bound = (
                    PAGE_SHARES.get(limit, min(PAGE_SHARES.values())) if fmt == "concise" else DETAILED_SHARE
                )
                section.targets.append(
                    Target(
                        f"page of {limit} {fmt} <= {bound:.0%} of raw tokens", share * 100, bound * 100, "%"
                    )
                )
    return section


def _typical_customer(fake: FakeServer) -> str:
    """The first customer with two subscriptions, three benefits and a meter: a common, full card."""
    customers = fake.dataset.generate()
    holdings = sample_holdings(customers)
    for customer in customers:
        held = holdings[customer["id"]]
        live = [s for s in held["subscriptions"] if s["status"] in STATE_STATUSES]
        if len(live) == 2 and len(held["granted_benefits"]) == 3 and len(held["active_meters"]) == 1:
            return str(customer["id"])
    raise RuntimeError("the sample organization has no customer with 2 subscriptions, 3 benefits, 1 meter")


async def _card(client: Client, fake: FakeServer) -> Section:
    section = Section(
        f"get_customer card ({ENCODING} tokens of the text the model reads, next to Polar's raw state JSON)",
        ["result", "tokens", "% of raw", "bytes", "JSON-RPC result bytes"],
        notes=[
            "A customer with two subscriptions, three benefits and a meter; raw = the body of",
            "GET /v1/customers/{id}/state for the same customer, which the card is made from.",
        ],
    )
    customer_id = _typical_customer(fake)
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{fake.customers_url}{customer_id}/state", headers=fake.auth_headers())
        response.raise_for_status()
    raw = count_tokens(response.text)
    section.add("raw state JSON", raw, "100%", len(response.content), "-")
    text, wire = await _call(client, "get_customer", {"id": customer_id})
    tokens = count_tokens(text)
    share = tokens / raw
    section.add("card", tokens, f"{share:.1%}", utf8_len(text), wire)
    section.figures |= {
        "context.card.raw.tokens": raw,
        "context.card.raw.bytes": len(response.content),
        "context.card.tokens": tokens,
        "context.card.bytes": utf8_len(text),
        "context.card.share_of_raw": share,
        "context.card.wire_bytes": wire,
    }
    section.targets.append(
        Target(f"card <= {CARD_SHARE:.0%} of the raw state's tokens", share * 100, CARD_SHARE * 100, "%")
    )
    return section


def _sample_server(*, demo: bool) -> PolarMCPServer:
    """The sample organization on `METRICS_DAY`, served as a merchant's own (`demo` adds the demo notice)."""
    settings = Settings(access_token=DEFAULT_TOKEN, server_url=DEMO_SERVER_URL, demo=demo)
    fake = FakePolar(demo_customers(), as_of=METRICS_DAY)
    built = build_server(settings, transport=httpx.MockTransport(fake))
    return PolarMCPServer(dataclasses.replace(built.context, today=lambda: METRICS_DAY.date()))


async def _metrics_answers() -> Section:
    section = Section(
        f"get_metrics answers ({ENCODING} tokens of the text the model reads; the sample organization "
        f"on {METRICS_DAY.date()})",
        ["question", "arguments", "tokens", "demo-mode tokens"],
        notes=[
            "tokens: as a merchant's server answers (no demo notice); demo-mode tokens: with the",
            "notice `polar-mcp --demo` starts every answer with. Three biggest products: by the net",
            "amount of their active subscriptions, found with query_customers as a model would.",
        ],
    )
    this_year = date(METRICS_DAY.year, 1, 1).isoformat()
    async with Client(_sample_server(demo=False)) as client:
        biggest = await client.call_tool(
            "query_customers",
            {
                "sql": "SELECT product_id FROM subscriptions WHERE status = 'active' AND product_id IS NOT "
                "NULL GROUP BY product_id ORDER BY sum(net_amount) DESC LIMIT 3"
            },
        )
    if biggest.is_error or biggest.structured_content is None:
        raise RuntimeError(f"query_customers failed: {text_of(biggest)[:300]}")
    products = [row[0] for row in biggest.structured_content["rows"]]
    questions: list[tuple[str, str, dict[str, Any]]] = [
        (
            "three_metrics",
            "three money metrics, 12 months",
            {"metrics": ["monthly_recurring_revenue", "revenue", "net_revenue"]},
        ),
        ("default", "the default set (four metrics), 12 months", {}),
        ("mrr", "MRR over the last 12 months", {"metrics": ["monthly_recurring_revenue"]}),
        ("churn", "churn rate by month this year", {"metrics": ["churn_rate"], "start_date": this_year}),
        (
            "products",
            "MRR for each of our three biggest products",
            {"metrics": ["monthly_recurring_revenue"], "product_id": products},
        ),
    ]
    async with Client(_sample_server(demo=False)) as merchant, Client(_sample_server(demo=True)) as demo:
        for key, question, arguments in questions:
            tokens, demo_tokens = [
                count_tokens((await _call(client, "get_metrics", arguments))[0])
                for client in (merchant, demo)
            ]
            shown = ", ".join(f"{name}={value}" for name, value in arguments.items()) or "(none)"
            section.add(question, shown[:60], tokens, demo_tokens)
            section.figures[f"context.metrics.{key}.tokens"] = tokens
            section.figures[f"context.metrics.{key}.demo_tokens"] = demo_tokens
    section.targets.append(
        Target(
            f"12-month answer, three metrics <= {METRICS_ANSWER_BUDGET} tokens",
            section.figures["context.metrics.three_metrics.tokens"],
            METRICS_ANSWER_BUDGET,
        )
    )
    return section


async def _call(client: Client, tool: str, arguments: dict[str, Any]) -> tuple[str, int]:
    """The result's text and the whole result's size on the wire; a failed call stops the benchmark."""
    result = await client.call_tool(tool, arguments)
    if result.is_error:
        raise RuntimeError(f"{tool} failed: {text_of(result)[:300]}")
    return text_of(result), utf8_len(result.model_dump_json(by_alias=True, exclude_none=True))
