"""Against a hostile Polar on 127.0.0.1: the longest a call takes with POLAR_TIMEOUT=2 when Polar drip-feeds
its answers, the peak memory of a `polar-mcp` process that is sent a 200 MB body, and how a
`polar-mcp --transport streamable-http` process holds up under a flood of idle connections and
readiness probes while Polar is slow.

    .venv/bin/python -m bench.hostile                 # all three, about 2 minutes
    .venv/bin/python -m bench.hostile --body-mb 20    # a lighter memory run
    .venv/bin/python -m bench.hostile --only flood    # the flood alone, about 40 s
    .venv/bin/python -m bench.hostile --only sql      # one caller's SQL against everyone (bench.hostile_sql)

Time: each scenario is one `list_customers` call made in-process, over real HTTP, to an upstream that
misbehaves in its own way on each attempt; the figure is wall time from call to error. Memory: a
`polar-mcp call list_customers` subprocess against an upstream that streams the body (declared with
Content-Length, and chunked without it); the figure is the child's peak resident size (ru_maxrss),
next to the same command against a well-behaved upstream.

Flood: a `polar-mcp --transport streamable-http` process whose Polar accepts requests and never answers.
An attacker process, from `--attack-addresses` loopback addresses (127.0.0.2 on), holds 200 TCP
connections that send nothing (each renewed when the server closes it, or after 9 s) and 200
connections that ask `GET /readyz` without auth, again as soon as each answer arrives. Meanwhile a
client on 127.0.0.1 makes a trivial call (`tools/list`, bearer token, a new connection each time)
every second and asks `/healthz` every half second. Figures: how long each call and each /healthz
waited and how many were answered, the server's peak resident memory (VmHWM), and how long the
server takes to exit on SIGTERM with the attack still running. Targets: every call answered within
3 s, every /healthz within 1 s, SIGTERM within the 25 s grace period.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from mcp import Client

from polar_mcp.config import Settings
from polar_mcp.polar.retry import call_budget
from polar_mcp.server import build_server
from tests.hostile import (
    Exchange,
    HostileUpstream,
    body_reply,
    drip_body,
    drip_headers,
    flood,
    hold,
    json_reply,
)

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


FLOOD_AUTH = "bench-hostile-flood-secret-0123456789"
TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "Authorization": f"Bearer {FLOOD_AUTH}",
}
TARGET_CALL_SECONDS = 3.0
TARGET_HEALTHZ_SECONDS = 1.0
GRACE_SECONDS = 25.0  # polar_mcp.http.GRACEFUL_SHUTDOWN_SECONDS, as documented
RENEW_SECONDS = 9.0  # an idle connection is replaced after this even if the server keeps it


async def _idle(port: int, local: str, stop: asyncio.Event, stats: Counter[str]) -> None:
    """One silent connection after another; a refused or at once closed one is retried 50 ms later."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(local, 0))
        except OSError:
            stats["idle: connect failed"] += 1
            await asyncio.sleep(0.05)
            continue
        opened = time.monotonic()
        try:
            await asyncio.wait_for(reader.read(1), RENEW_SECONDS)
            lived = time.monotonic() - opened
            stats[
                "idle: closed by the server at once" if lived < 0.5 else "idle: closed by the server later"
            ] += 1
        except TimeoutError:
            stats["idle: renewed after 9 s"] += 1
        except OSError:
            stats["idle: reset by the server"] += 1
        finally:
            writer.close()
        if time.monotonic() - opened < 0.5:
            await asyncio.sleep(0.05)


async def _probe(port: int, local: str, stop: asyncio.Event, stats: Counter[str]) -> None:
    """`GET /readyz` on a keep-alive connection, again as soon as each answer is in."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(local, 0))
        except OSError:
            stats["readyz: connect failed"] += 1
            await asyncio.sleep(0.05)
            continue
        try:
            while not stop.is_set():
                writer.write(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                stats[f"readyz: answered {head[9:12].decode()}"] += 1
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            stats["readyz: connection lost"] += 1
            await asyncio.sleep(0.05)
        finally:
            writer.close()


async def attack(port: int, idle: int, probes: int, addresses: int, seconds: float) -> None:
    """The attacker process: on a line on its standard input, prints what happened so far as JSON;
    goes on until its standard input closes, or for at most `seconds`."""
    stop = asyncio.Event()
    stats: Counter[str] = Counter()
    hosts = [f"127.0.0.{2 + n % addresses}" for n in range(idle + probes)]
    tasks = [asyncio.create_task(_idle(port, hosts[n], stop, stats)) for n in range(idle)]
    tasks += [asyncio.create_task(_probe(port, hosts[idle + n], stop, stats)) for n in range(probes)]
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(reader.readline(), seconds)  # "report": the measured part is over
        print(json.dumps(dict(stats)), flush=True)  # what happened up to then, before the SIGTERM
        await asyncio.wait_for(reader.read(), seconds)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


async def _timed(client: httpx.AsyncClient, method: str, url: str, **options: Any) -> tuple[float, str]:
    started = time.monotonic()
    try:
        response = await client.request(method, url, **options)
        outcome = str(response.status_code)
    except httpx.HTTPError as exc:
        outcome = type(exc).__name__
    return time.monotonic() - started, outcome


RESULTS_DIR = Path(__file__).resolve().parent / "results"


async def flood_run(seconds: float, idle: int, probes: int, addresses: int) -> dict[str, Any]:
    """The flood scenario; returns its figures."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    results = RESULTS_DIR
    async with HostileUpstream(hold()) as upstream:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POLAR_")}
        env.update(POLAR_ACCESS_TOKEN=TOKEN, POLAR_SERVER_URL=upstream.url, POLAR_MCP_AUTH_TOKEN=FLOOD_AUTH)
        command = [sys.executable, "-m", "polar_mcp", "--transport", "streamable-http", "--port", str(port)]
        results.mkdir(parents=True, exist_ok=True)
        with (results / "hostile-flood.stderr.log").open("w") as log:
            server = await asyncio.create_subprocess_exec(*command, env=env, stderr=log)
        fresh = httpx.Limits(max_keepalive_connections=0)  # every request on a new connection
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=fresh) as client:
            for _ in range(200):  # up to 10 s for the server to start
                if (await _timed(client, "GET", "/healthz"))[1] == "200":
                    break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError("the server did not start; see bench/results/hostile-flood.stderr.log")
            await _timed(client, "POST", "/mcp", json=TOOLS_LIST, headers=MCP_HEADERS)  # warm
            rss_before = _status_kib(server.pid, "VmRSS") / 1024
            attack_args = [str(value) for value in (port, idle, probes, addresses, seconds + 60)]
            attacker = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "bench.hostile", "--attack", *attack_args),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            await asyncio.sleep(2.0)  # let the attack reach full strength
            calls: list[tuple[float, str]] = []
            checks: list[tuple[float, str]] = []

            async def every(
                interval: float, out: list[tuple[float, str]], *request: Any, **options: Any
            ) -> None:
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline:
                    started = time.monotonic()
                    out.append(await _timed(client, *request, **options))
                    await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))

            await asyncio.gather(
                every(1.0, calls, "POST", "/mcp", json=TOOLS_LIST, headers=MCP_HEADERS),
                every(0.5, checks, "GET", "/healthz"),
            )
        peak = _status_kib(server.pid, "VmHWM") / 1024
        assert attacker.stdin is not None and attacker.stdout is not None
        attacker.stdin.write(b"report\n")
        attack_stats = json.loads(await asyncio.wait_for(attacker.stdout.readline(), 30) or b"{}")
        stopping = time.monotonic()
        server.send_signal(signal.SIGTERM)
        try:
            code: int | str = await asyncio.wait_for(server.wait(), GRACE_SECONDS + 15)
        except TimeoutError:
            server.kill()
            code = "killed after 40 s"
        sigterm = time.monotonic() - stopping
        attacker.stdin.close()
        await asyncio.wait_for(attacker.wait(), 60)
        upstream_requests = len(upstream.exchanges)
    served = [wait for wait, outcome in calls if outcome == "200"]
    healthy = [wait for wait, outcome in checks if outcome == "200"]
    return {
        "calls": len(calls),
        "calls_answered_200": len(served),
        "call_outcomes": dict(Counter(outcome for _, outcome in calls)),
        "call_wait_max_s": round(max(wait for wait, _ in calls), 3),
        "call_wait_median_s": round(sorted(wait for wait, _ in calls)[len(calls) // 2], 3),
        "healthz": len(checks),
        "healthz_answered_200": len(healthy),
        "healthz_wait_max_s": round(max(wait for wait, _ in checks), 3),
        "rss_before_attack_mib": round(rss_before, 1),
        "peak_rss_mib": round(peak, 1),
        "sigterm_seconds": round(sigterm, 2),
        "exit": code,
        "upstream_requests": upstream_requests,
        "attack": attack_stats,
    }


def print_flood(figures: dict[str, Any], seconds: float, idle: int, probes: int, addresses: int) -> bool:
    """Print the flood's figures and targets; whether every target was met."""
    print(
        f"\nflood for {seconds:g} s: {idle} idle connections + {probes} /readyz probe loops from "
        f"{addresses} address{'' if addresses == 1 else 'es'}, Polar never answering"
    )
    print(
        f"trivial call (tools/list): {figures['calls_answered_200']}/{figures['calls']} answered 200, "
        f"median {figures['call_wait_median_s']:.3f} s, longest {figures['call_wait_max_s']:.3f} s "
        f"{figures['call_outcomes']}"
    )
    print(
        f"/healthz: {figures['healthz_answered_200']}/{figures['healthz']} answered 200, "
        f"longest {figures['healthz_wait_max_s']:.3f} s"
    )
    before, peak = figures["rss_before_attack_mib"], figures["peak_rss_mib"]
    print(f"server RSS before the attack {before:.1f} MiB, peak {peak:.1f} MiB")
    print(f"SIGTERM to exit: {figures['sigterm_seconds']:.2f} s (exit {figures['exit']})")
    print(f"requests that reached Polar: {figures['upstream_requests']}")
    for name, count in sorted(figures["attack"].items()):
        print(f"  attacker: {name}: {count}")
    targets = [
        (
            f"every call answered within {TARGET_CALL_SECONDS:g} s",
            figures["calls_answered_200"] == figures["calls"]
            and figures["call_wait_max_s"] <= TARGET_CALL_SECONDS,
        ),
        (
            f"every /healthz answered within {TARGET_HEALTHZ_SECONDS:g} s",
            figures["healthz_answered_200"] == figures["healthz"]
            and figures["healthz_wait_max_s"] <= TARGET_HEALTHZ_SECONDS,
        ),
        (f"SIGTERM within {GRACE_SECONDS:g} s", figures["sigterm_seconds"] <= GRACE_SECONDS),
    ]
    for name, met in targets:
        print(f"{'PASS' if met else 'MISS'}  {name}")
    return all(met for _, met in targets)


async def main(body_mb: int, only: list[str], flood_seconds: float, addresses: int) -> dict[str, Any]:
    logging.basicConfig(level=logging.ERROR)  # the calls are meant to fail; their warnings are noise here
    figures: dict[str, Any] = {}
    if "time" in only:
        figures |= await time_part()
    if "memory" in only:
        figures |= await memory_part(body_mb)
    if "flood" in only:
        flood_figures = await flood_run(flood_seconds, idle=200, probes=200, addresses=addresses)
        flood_figures["targets_met"] = print_flood(flood_figures, flood_seconds, 200, 200, addresses)
        figures["flood"] = flood_figures
    if "sql" in only:
        from bench import hostile_sql

        print("\nOne caller's SQL against everyone else (bench.hostile_sql):")
        figures["sql"] = await hostile_sql.main(quick=False)
    return figures


async def time_part() -> dict[str, Any]:
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
    return figures


async def memory_part(body_mb: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
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
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["time", "memory", "flood", "sql"],
        default=["time", "memory", "flood", "sql"],
    )
    parser.add_argument(
        "--flood-seconds", type=float, default=30.0, help="how long the flood runs (default 30)"
    )
    parser.add_argument(
        "--attack-addresses", type=int, default=8, help="loopback addresses the flood comes from (default 8)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--attack", nargs=5, metavar="N", help=argparse.SUPPRESS)  # the attacker process
    args = parser.parse_args()
    if args.attack:
        port, idle, probes, addresses = (int(value) for value in args.attack[:4])
        asyncio.run(attack(port, idle, probes, addresses, float(args.attack[4])))
        sys.exit(0)
    results = asyncio.run(main(args.body_mb, args.only, args.flood_seconds, args.attack_addresses))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    met = results.get("flood", {}).get("targets_met", True) and not results.get("sql", {}).get("misses")
    sys.exit(0 if met else 1)
