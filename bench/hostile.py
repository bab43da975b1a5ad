"""Against a hostile Polar on 127.0.0.1: the longest a call takes with POLAR_TIMEOUT=2 when Polar drip-feeds
its answers, and the peak memory of a `polar-mcp` process that is sent a 200 MB body.

    .venv/bin/python -m bench.hostile                 # both, about 1 minute
    .venv/bin/python -m bench.hostile --body-mb 20    # a lighter memory run

Time: each scenario is one `list_customers` call made in-process, over real HTTP, to an upstream that
misbehaves in its own way on each attempt; the figure is wall time from call to error. Memory: a
`polar-mcp call list_customers` subprocess against an upstream that streams the body (declared with
Content-Length, and chunked without it); the figure is the child's peak resident size (ru_maxrss),
next to the same command against a well-behaved upstream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mcp import Client

from polar_mcp.config import Settings
from polar_mcp.polar.retry import call_budget
from polar_mcp.server import build_server
from tests.hostile import Exchange, HostileUpstream, body_reply, drip_body, drip_headers, flood, json_reply

TIMEOUT = 2.0
TOKEN = "polar_oat_bench_hostile_0123456789"
PAGE = {"items": [], "pagination": {"total_count": 0, "max_page": 0}}

Script = Callable[[Exchange], Awaitable[None]]


def scenarios() -> dict[str, list[Script]]:
    """Per scenario, what the upstream does on attempts 1, 2, 3."""
    drip = drip_headers(0.1, max_bytes=10_000)
    limited = {"retry-after": "9.4"}
    return {
        "headers a byte per 100 ms, every attempt": [drip],
        "body a byte per 100 ms": [drip_body(0.1, max_bytes=10_000)],
        "503 at once, every attempt": [body_reply(b"busy", status=503)],
        "drip, 429 Retry-After 9.4 s, drip": [drip, body_reply(b"", status=429, headers=limited), drip],
        "429 Retry-After 4.9 s, drip, drip": [
            body_reply(b"", status=429, headers={"retry-after": "4.9"}),
            drip,
            drip,
        ],
    }


async def time_call(scripts: list[Script]) -> tuple[float, str, int]:
    async with HostileUpstream(*scripts) as upstream:
        settings = Settings(access_token=TOKEN, server_url=upstream.url, timeout=TIMEOUT)
        server = build_server(settings)
        async with Client(server) as client:
            started = time.monotonic()
            result = await client.call_tool("list_customers", {"limit": 10})
            elapsed = time.monotonic() - started
        await server.polar.aclose()
        text = "\n".join(block.text for block in result.content if block.type == "text")
        return elapsed, text.split(". ")[0], len(upstream.exchanges)


# A fresh parent per run: RUSAGE_CHILDREN then holds the peak of that one `polar-mcp call` alone.
MEASURE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print((done.stdout or done.stderr).strip().splitlines()[0][:110])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


async def peak_rss_mib(script: Script) -> tuple[float, str]:
    """Peak RSS of a `polar-mcp call` process against `script`, and the first line it printed."""
    async with HostileUpstream(script) as upstream:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POLAR_")}
        env.update(POLAR_ACCESS_TOKEN=TOKEN, POLAR_SERVER_URL=upstream.url, POLAR_TIMEOUT="60")
        command = [sys.executable, "-m", "polar_mcp", "call", "list_customers", '{"limit": 10}']
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", MEASURE, *command, env=env, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(process.communicate(), 120)
    first, peak_kib = out.decode(errors="replace").strip().splitlines()[-2:]
    return int(peak_kib) / 1024, first


async def main(body_mb: int) -> dict[str, Any]:
    logging.basicConfig(level=logging.ERROR)  # the calls are meant to fail; their warnings are noise here
    figures: dict[str, Any] = {"polar_timeout": TIMEOUT, "call_budget": call_budget(TIMEOUT)}
    print(f"POLAR_TIMEOUT={TIMEOUT:g}: call budget {call_budget(TIMEOUT):g} s")
    print(f"{'scenario':45} {'seconds':>8} {'attempts':>8}  error")
    worst = 0.0
    for name, scripts in scenarios().items():
        elapsed, error, attempts = await time_call(scripts)
        worst = max(worst, elapsed)
        figures[f"time: {name}"] = round(elapsed, 2)
        print(f"{name:45} {elapsed:8.2f} {attempts:8d}  {error}")
    figures["worst_call_seconds"] = round(worst, 2)
    print(f"worst case: {worst:.2f} s")

    total = body_mb * 1024 * 1024
    # Peaks of children only grow, so measure the small baseline first.
    runs = [
        ("well-behaved upstream, empty page", json_reply(PAGE)),
        (f"{body_mb} MB body, Content-Length declared", flood(total, declare=True)),
        (f"{body_mb} MB body, chunked (no length)", flood(total, declare=False)),
    ]
    print(f"\n{'polar-mcp call against':45} {'peak RSS MiB':>12}  output")
    for name, script in runs:
        peak, first = await peak_rss_mib(script)
        figures[f"peak_rss_mib: {name}"] = round(peak, 1)
        print(f"{name:45} {peak:12.1f}  {first}")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--body-mb", type=int, default=200, help="size of the huge body (default 200)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results = asyncio.run(main(args.body_mb))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
