"""The billing tables at size: an organization of 50,000 customers, 20,000 subscriptions, 200,000 orders
and 40 products, served by the fake Polar over real HTTP on 127.0.0.1 (its own process), asked the
questions merchants ask, each in one `query_customers` call, every answer checked against ground truth
computed here from the same deterministic data.

    .venv/bin/python -m bench.billing            # full size, about a minute
    .venv/bin/python -m bench.billing --quick    # a tenth of it, a smoke run

Figures: Polar requests for every table cold (target at most 4, plus product pages), the cold call's
time (all tables; target 8 s), each warm statement's median time (target 50 ms), and this process's
resident memory growth with every table loaded (target 250 MiB).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import Client

if __package__ in (None, ""):  # `python bench/billing.py` from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fixture import STATS_PATH, Dataset, serve_fake
from polar_mcp.config import Settings
from polar_mcp.demo.ledger import api_orders, api_subscriptions, sample_billing
from polar_mcp.server import build_server

__all__ = ["main"]

AS_OF = datetime(2026, 12, 2, tzinfo=UTC)
TARGETS = {"cold_seconds": 8.0, "warm_ms": 50.0, "rss_growth_mib": 250.0, "polar_requests": 4}
LIVE = ("active", "trialing", "past_due")
WARM_RUNS = 9


def questions() -> dict[str, str]:
    horizon = (AS_OF + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    now = AS_OF.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "subscribers per product": (
            "SELECT product, COUNT(*) FROM subscriptions WHERE status IN ('active', 'trialing', 'past_due') "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        ),
        "renewals in the next 7 days with their total": (
            "SELECT currency, COUNT(*), SUM(amount) FROM subscriptions WHERE status = 'active' "
            f"AND NOT cancel_at_period_end AND current_period_end >= '{now}' AND current_period_end < "
            f"'{horizon}' GROUP BY 1 ORDER BY 1"
        ),
        "top 10 customers by amount paid": (
            "SELECT c.id, SUM(o.net_amount - o.refunded_amount) AS paid FROM orders o JOIN customers c "
            "ON c.id = o.customer_id WHERE o.currency = 'usd' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10"
        ),
    }


def ground_truth(dataset: Dataset, size: dict[str, int]) -> dict[str, list[list[Any]]]:
    customers = dataset.generate()
    billing = sample_billing(customers, AS_OF, **size)
    subscriptions, orders = api_subscriptions(billing), api_orders(billing)
    per_product = Counter(s["product"]["name"] for s in subscriptions if s["status"] in LIVE)
    horizon = AS_OF + timedelta(days=7)
    renewals: dict[str, list[int]] = {}
    for s in subscriptions:
        end = s["current_period_end"]
        when = datetime.fromisoformat(end.replace("Z", "+00:00")) if end else None
        if s["status"] == "active" and not s["cancel_at_period_end"] and when and AS_OF <= when < horizon:
            total = renewals.setdefault(s["currency"], [0, 0])
            total[0] += 1
            total[1] += s["amount"]
    emails = Counter((c.get("email") or "").lower() for c in customers if c.get("email"))
    paid: Counter[str] = Counter()
    for order in orders:
        email = (order["customer"].get("email") or "").lower()
        if order["currency"] == "usd" and email and emails[email] == 1:
            paid[order["customer_id"]] += order["net_amount"] - order["refunded_amount"]
    top = sorted(paid.items(), key=lambda item: (-item[1], item[0]))[:10]
    return {
        "subscribers per product": sorted(
            ([name, n] for name, n in per_product.items()), key=lambda row: (-row[1], row[0])
        ),
        "renewals in the next 7 days with their total": [[c, *v] for c, v in sorted(renewals.items())],
        "top 10 customers by amount paid": [list(item) for item in top],
    }


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def polar_requests(url: str) -> int:
    async with httpx.AsyncClient() as http:
        count: int = (await http.get(f"{url}{STATS_PATH}")).json()["requests"]
        return count


async def main(quick: bool) -> dict[str, Any]:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would bury the figures
    scale = 10 if quick else 1
    dataset = Dataset(customers=50_000 // scale, seed=2026)
    size = {"products": 40, "subscriptions": 20_000 // scale, "orders": 200_000 // scale}
    extra = [
        "--subscriptions",
        str(size["subscriptions"]),
        "--orders",
        str(size["orders"]),
        "--products",
        "40",
    ]
    extra += ["--as-of", AS_OF.date().isoformat()]
    expected = ground_truth(dataset, size)
    figures: dict[str, Any] = {"customers": dataset.customers, **size, "targets": TARGETS}
    with serve_fake(dataset, *extra) as fake:
        settings = Settings(access_token=fake.token, server_url=fake.url, timeout=60)
        server = build_server(settings)
        before_rss = rss_mib()
        async with Client(server) as client:
            started_requests = await polar_requests(fake.url)
            started = time.perf_counter()
            every = await client.call_tool(
                "query_customers",
                {"sql": "SELECT (SELECT COUNT(*) FROM customers), (SELECT COUNT(*) FROM subscriptions), "
                 "(SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM products)"},
            )  # fmt: skip
            figures["cold_seconds"] = round(time.perf_counter() - started, 2)
            figures["polar_requests"] = await polar_requests(fake.url) - started_requests
            assert not every.is_error, every.content
            figures["rows"] = every.structured_content["rows"][0]
            figures["rss_growth_mib"] = round(rss_mib() - before_rss, 1)
            answers: dict[str, Any] = {}
            for name, statement in questions().items():
                times = []
                for _ in range(WARM_RUNS):
                    began = time.perf_counter()
                    result = await client.call_tool("query_customers", {"sql": statement})
                    times.append((time.perf_counter() - began) * 1000)
                rows = result.structured_content["rows"]
                answers[name] = {
                    "warm_ms": round(statistics.median(times), 1),
                    "correct": rows == expected[name],
                    "rows": len(rows),
                }
            figures["questions"] = answers
            figures["polar_requests_after_warm"] = await polar_requests(fake.url) - started_requests
        await server.polar.aclose()
    misses = []
    if figures["cold_seconds"] > TARGETS["cold_seconds"]:
        misses.append(f"cold {figures['cold_seconds']} s")
    if figures["rss_growth_mib"] > TARGETS["rss_growth_mib"]:
        misses.append(f"memory {figures['rss_growth_mib']} MiB")
    product_pages = -(-size["products"] // 100)
    if figures["polar_requests"] > TARGETS["polar_requests"] + product_pages:
        misses.append(f"{figures['polar_requests']} requests")
    for name, answer in answers.items():
        if answer["warm_ms"] > TARGETS["warm_ms"]:
            misses.append(f"{name}: {answer['warm_ms']} ms")
        if not answer["correct"]:
            misses.append(f"{name}: wrong answer")
    figures["misses"] = misses
    print(
        f"{dataset.customers:,} customers, {size['subscriptions']:,} subscriptions, {size['orders']:,} "
        f"orders, 40 products (rows loaded: {figures['rows']})"
    )
    print(f"cold, every table: {figures['cold_seconds']:.2f} s, {figures['polar_requests']} Polar requests")
    print(f"memory growth with every table loaded: {figures['rss_growth_mib']:.1f} MiB")
    for name, answer in answers.items():
        check = "correct" if answer["correct"] else "WRONG"
        print(f"  {name:48} warm {answer['warm_ms']:6.1f} ms  {answer['rows']:3} rows  {check}")
    print(f"Polar requests in all, warm calls included: {figures['polar_requests_after_warm']}")
    for miss in misses:
        print(f"MISS {miss}")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a tenth of the organization, a smoke run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results = anyio.run(main, args.quick)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    sys.exit(1 if results["misses"] else 0)
