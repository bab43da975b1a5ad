"""Bounded load test of the streamable HTTP deployment on loopback: N concurrent MCP clients, zero failures.

Serves the fake Polar over HTTP on 127.0.0.1 (`bench.fixture`, in its own process), spawns
`polar-mcp --transport streamable-http [--workers N]` pointed at it (with `--uvicorn`,
`uvicorn polar_mcp.http:app --factory --workers N` instead), and makes `--calls` tool calls from
`--clients` concurrent MCP clients, each sending the bearer token. Prints p50/p95 latency and
throughput. Exits 1 if any call failed, if a token shows up in the server's log
(`bench/results/load_http.stderr.log`), or if the run outlasts `--deadline`.

    .venv/bin/python bench/load_http.py                      # 400 calls from 20 clients
    .venv/bin/python bench/load_http.py --quick              # smoke run
    .venv/bin/python -m bench.load_http --workers 2 --json bench/results/load_http.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

if __package__ in (None, ""):  # `python bench/load_http.py` from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fixture import STATS_PATH, Dataset, serve_fake
from bench.servers import RESULTS_DIR
from bench.stats import median_ms, p95_ms
from polar_mcp import __version__

__all__ = ["Figures", "main"]

LIMIT = 20  # customers per call: a realistic page, several pages deep
STARTUP_SECONDS = 30.0
STOP_SECONDS = 30.0
LOG_PATH = RESULTS_DIR / "load_http.stderr.log"


@dataclass
class Figures:
    """What one run measured; written as JSON with --json."""

    command: str
    calls: int
    clients: int
    workers: int
    customers: int
    succeeded: int = 0
    failed: int = 0
    wall_seconds: float = 0.0
    throughput_per_second: float = 0.0
    p50_ms: float = math.nan
    p95_ms: float = math.nan
    max_ms: float = math.nan
    polar_requests: int = 0
    secrets_in_server_log: bool = False
    failures: list[str] = field(default_factory=list)
    cpus: int = os.cpu_count() or 1
    python: str = platform.python_version()
    polar_mcp: str = __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench/load_http.py", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="tool calls in total (default 400)")
    parser.add_argument("--clients", type=int, default=20, help="concurrent MCP clients (default 20)")
    parser.add_argument("--customers", type=int, default=500, help="customers in the fake organization")
    parser.add_argument("--workers", type=int, default=0, help="run `polar-mcp ... --workers N`")
    parser.add_argument(
        "--uvicorn",
        action="store_true",
        help="with --workers: run `uvicorn polar_mcp.http:app --factory` instead",
    )
    parser.add_argument("--deadline", type=float, default=300.0, help="give up after this many seconds")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="smoke run: 40 calls from 5 clients")
    return parser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_command(workers: int, port: int, uvicorn: bool = False) -> list[str]:
    """The deployment under test, as an operator would start it."""
    where = ["--host", "127.0.0.1", "--port", str(port)]
    if workers and uvicorn:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "polar_mcp.http:app",
            "--factory",
            "--workers",
            str(workers),
            *where,
        ]
    script = Path(sys.executable).with_name("polar-mcp")
    entry = [str(script)] if script.exists() else [sys.executable, "-m", "polar_mcp"]
    scale = ["--workers", str(workers)] if workers else []
    return [*entry, "--transport", "streamable-http", *scale, *where]


@contextlib.asynccontextmanager
async def mcp_server(command: Sequence[str], env: dict[str, str], log: IO[bytes]) -> AsyncIterator[str]:
    """Spawn the server, wait for /healthz, yield its base URL, then stop it with SIGTERM."""
    url = f"http://127.0.0.1:{command[-1]}"
    process = await anyio.open_process(list(command), env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        with anyio.fail_after(STARTUP_SECONDS):
            async with httpx.AsyncClient() as http:
                while True:
                    if process.returncode is not None:
                        raise RuntimeError(f"the server exited with {process.returncode} during start-up")
                    with contextlib.suppress(httpx.TransportError):
                        if (await http.get(f"{url}/healthz")).status_code == 200:
                            break
                    await anyio.sleep(0.05)  # another process: polling its port is the only signal
        yield url
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                with anyio.move_on_after(STOP_SECONDS):
                    await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
            await process.aclose()


async def run_clients(
    url: str, token: str, calls: int, clients: int, max_page: int, figures: Figures
) -> list[float]:
    """`clients` MCP sessions share one counter of calls; returns each successful call's latency."""
    latencies: list[float] = []
    issued = 0

    async def client_loop() -> None:
        nonlocal issued
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client,
        ):
            await client.list_tools()
            while issued < calls:
                number = issued
                issued += 1
                arguments = {"limit": LIMIT, "page": number % max_page + 1}
                started = time.perf_counter()
                try:
                    result = await client.call_tool("list_customers", arguments)
                except Exception as exc:  # every failure counts; the run goes on to report them all
                    figures.failures.append(f"call {number}: {type(exc).__name__}: {exc}"[:300])
                    continue
                elapsed = time.perf_counter() - started
                if result.is_error or not result.structured_content:
                    figures.failures.append(f"call {number}: tool error")
                else:
                    latencies.append(elapsed)

    async with anyio.create_task_group() as tg:
        for _ in range(clients):
            tg.start_soon(client_loop)
    return latencies


async def _polar_requests(fake_url: str) -> int:
    async with httpx.AsyncClient() as http:
        count: int = (await http.get(f"{fake_url}{STATS_PATH}")).json()["requests"]
        return count


async def bench(args: argparse.Namespace) -> Figures:
    token = secrets.token_urlsafe(32)
    command = server_command(args.workers, _free_port(), args.uvicorn)
    figures = Figures(
        command=" ".join([Path(command[0]).name, *command[1:]]),
        calls=args.calls,
        clients=args.clients,
        workers=args.workers or 1,
        customers=args.customers,
    )
    LOG_PATH.parent.mkdir(parents=True, exist_ok=True)
    with serve_fake(Dataset(customers=args.customers)) as fake, LOG_PATH.open("wb") as log:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POLAR_")}
        env |= {"POLAR_SERVER_URL": fake.url, "POLAR_ACCESS_TOKEN": fake.token, "POLAR_MCP_AUTH_TOKEN": token}
        max_page = max(1, math.ceil(args.customers / LIMIT))
        with anyio.fail_after(args.deadline):
            before = await _polar_requests(fake.url)
            async with mcp_server(command, env, log) as url:
                started = time.perf_counter()
                latencies = await run_clients(url, token, args.calls, args.clients, max_page, figures)
                figures.wall_seconds = time.perf_counter() - started
            figures.polar_requests = await _polar_requests(fake.url) - before
    server_log = LOG_PATH.read_text(errors="replace")
    figures.secrets_in_server_log = token in server_log or fake.token in server_log
    figures.succeeded = len(latencies)
    figures.failed = args.calls - len(latencies)
    figures.throughput_per_second = figures.succeeded / figures.wall_seconds if figures.wall_seconds else 0.0
    if latencies:
        figures.p50_ms = median_ms(latencies)
        figures.p95_ms = p95_ms(latencies)
        figures.max_ms = max(latencies) * 1000
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        args.calls, args.clients = 40, 5
    if args.calls < 1 or args.clients < 1:
        print("--calls and --clients must be at least 1", file=sys.stderr)
        return 2
    try:
        figures = anyio.run(bench, args)
    except TimeoutError:
        print(f"FAILED: the run did not finish within {args.deadline:g} seconds", file=sys.stderr)
        return 1
    print(f"server:      {figures.command}")
    print(
        f"load:        {figures.calls} calls from {figures.clients} concurrent clients, {figures.workers} "
        f"worker(s), {figures.customers} customers, limit={LIMIT}, {figures.cpus} CPUs"
    )
    print(
        f"succeeded:   {figures.succeeded}  failed: {figures.failed}  "
        f"Polar requests: {figures.polar_requests}"
    )
    print(
        f"latency:     p50 {figures.p50_ms:.1f} ms  p95 {figures.p95_ms:.1f} ms  max {figures.max_ms:.1f} ms"
    )
    print(f"throughput:  {figures.throughput_per_second:.1f} calls/s over {figures.wall_seconds:.2f} s")
    print(f"tokens in server log: {'YES' if figures.secrets_in_server_log else 'none'}")
    for failure in figures.failures[:10]:
        print(f"  {failure}", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(asdict(figures), indent=2) + "\n")
    ok = figures.failed == 0 and not figures.failures and not figures.secrets_in_server_log
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
