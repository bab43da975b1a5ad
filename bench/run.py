"""Run the benchmark suite: `python -m bench [--quick] [--only ...] [--compare A.json B.json]`."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py` from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.coldstart import measure_cold_start
from bench.context import measure_context
from bench.fixture import Dataset, serve_fake
from bench.latency import measure_latency
from bench.memory import measure_memory
from bench.plan import FULL, QUICK, Plan
from bench.profile import profile_call
from bench.query import measure_query
from bench.report import Section, compare, load, render, write_json
from bench.servers import RESULTS_DIR
from bench.steps import measure_steps
from bench.versus import measure_versus
from bench.walk import measure_walk

__all__ = ["main"]

SECTIONS = ("context", "latency", "versus", "coldstart", "walk", "memory", "query")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="few iterations, targets not enforced (CI smoke)"
    )
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these benchmarks")
    parser.add_argument(
        "--customers", type=int, default=Dataset.customers, help="size of the sample data set"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR / "latest.json", help="where to write the figures"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also write a pyinstrument profile of a limit-100 call to bench/results/",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("A.json", "B.json"),
        help="print two result files side by side and exit",
    )
    return parser


async def _run(plan: Plan, only: set[str], customers: int, profile: bool) -> list[Section]:
    sections: list[Section] = []
    mixed = Dataset(customers=customers, team_share=0.2)
    with serve_fake(mixed) as fake:
        steps: list[tuple[str, Callable[[], Awaitable[Section | list[Section]]]]] = [
            ("context", lambda: measure_context(fake, plan)),
            ("latency", lambda: measure_latency(fake, plan)),
            ("latency", lambda: measure_steps(fake, plan)),
            ("coldstart", lambda: measure_cold_start(fake, plan)),
            ("walk", lambda: measure_walk(fake)),
            ("memory", lambda: measure_memory(fake, plan)),
        ]
        for name, step in steps:
            if name in only:
                print(f"running {name} ...", file=sys.stderr, flush=True)
                result = await step()
                sections += result if isinstance(result, list) else [result]
        if profile:
            path = await profile_call(fake)
            if path is not None:
                print(f"profile written to {path}", file=sys.stderr)
        if "query" in only and plan.query_customers in (None, customers):
            print("running query ...", file=sys.stderr, flush=True)
            sections.append(await measure_query(fake, plan))
    if "query" in only and plan.query_customers not in (None, customers):
        print(f"running query ({plan.query_customers:,} customers) ...", file=sys.stderr, flush=True)
        with serve_fake(Dataset(customers=plan.query_customers, team_share=0.2)) as large:
            sections.append(await measure_query(large, plan))
    if "versus" in only:
        print("running versus ...", file=sys.stderr, flush=True)
        # Polar's generated server rejects team customers, so it gets a data set of individuals.
        with serve_fake(Dataset(customers=customers, team_share=0.0)) as individuals:
            sections.append(await measure_versus(individuals, plan))
    order = {
        name: i
        for i, name in enumerate(
            ["Tool", "Context", "Latency", "Per-call", "Where", "Against", "Cold", "Walk", "Memory", "Whole"]
        )
    }
    sections.sort(key=lambda s: next((i for k, i in order.items() if s.title.startswith(k)), 99))
    return sections


def _meta(plan: Plan, customers: int, seconds: float) -> dict[str, object]:
    return {
        "mode": plan.name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "customers": customers,
        "python": platform.python_version(),
        "mcp": importlib.metadata.version("mcp"),
        "polar_mcp": importlib.metadata.version("polar-mcp"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.compare:
        a, b = args.compare
        print(compare(load(a), load(b), a.name, b.name))
        return 0
    plan = QUICK if args.quick else FULL
    # As the server's own logging setup does: httpx would log every request at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    only = set(args.only or SECTIONS)
    start = time.perf_counter()
    sections = asyncio.run(_run(plan, only, args.customers, args.profile))
    meta = _meta(plan, args.customers, time.perf_counter() - start)
    print(
        f"polar-mcp benchmarks, {plan.name} mode: {meta['customers']} customers, python {meta['python']}, "
        f"mcp {meta['mcp']}, {meta['machine']}, {meta['seconds']} s\n"
    )
    print(render(sections, enforced=plan.enforce))
    write_json(args.out, meta, sections)
    stamped = args.out.parent / f"{plan.name}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    write_json(stamped, meta, sections)
    print(f"\nfigures written to {args.out} and {stamped}")
    targets = [t for s in sections for t in s.targets]
    broken = [t for t in targets if t.status == "MISS" and (t.correctness or plan.enforce)]
    for target in broken:
        print(f"MISS {target.describe()}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
