"""Serve the fake Polar over real HTTP on 127.0.0.1, in a subprocess of its own.

A separate process keeps the fake's work off the benchmark's interpreter (no shared GIL), as real
Polar would be. Run it alone with `python -m bench.fixture --customers 3000` to poke at it with curl.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar, Receive, Scope, Send, asgi_app
from polar_mcp.demo.ledger import SampleBilling, sample_billing
from polar_mcp.demo.organization import sample_customers

__all__ = ["STATS_PATH", "Dataset", "FakeServer", "serve_fake"]

REPO_ROOT = Path(__file__).resolve().parent.parent
STATS_PATH = "/__bench__/stats"
"""Answers `{"requests": N}`: how many requests the fake has served, to count upstream calls."""


@dataclass(frozen=True)
class Dataset:
    """A deterministic sample organization: the same arguments give the same customers everywhere."""

    customers: int = 3000
    seed: int = 2026
    team_share: float = 0.2

    def generate(self) -> list[dict[str, Any]]:
        return sample_customers(self.customers, seed=self.seed, team_share=self.team_share)


@dataclass(frozen=True)
class FakeServer:
    """A running fake: its base URL, the token it accepts, and the data it serves."""

    url: str
    token: str
    dataset: Dataset

    @property
    def customers_url(self) -> str:
        return f"{self.url}/v1/customers/"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@contextmanager
def serve_fake(dataset: Dataset, *extra: str) -> Iterator[FakeServer]:
    """Start the fake in a subprocess (`extra`: more of its arguments), yield once it listens, stop it."""
    command = [
        sys.executable,
        "-m",
        "bench.fixture",
        "--customers",
        str(dataset.customers),
        "--seed",
        str(dataset.seed),
        "--team-share",
        str(dataset.team_share),
        *extra,
    ]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the fake Polar did not start (exit code {process.poll()})")
        yield FakeServer(f"http://127.0.0.1:{int(line.split()[1])}", DEFAULT_TOKEN, dataset)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def billing_for(customers: list[dict[str, Any]], args: argparse.Namespace) -> SampleBilling | None:
    """The benchmark organization's billing the arguments ask for, or None for the demo rule."""
    if args.subscriptions is None and args.orders is None:
        return None
    as_of = datetime.fromisoformat(args.as_of).replace(tzinfo=UTC) if args.as_of else None
    return sample_billing(
        customers, as_of, products=args.products, subscriptions=args.subscriptions, orders=args.orders
    )


def _with_stats(fake: FakePolar) -> Any:
    app = asgi_app(fake)

    async def stats_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == STATS_PATH:
            body = json.dumps({"requests": len(fake.requests)}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return stats_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the fake Polar customers endpoint on 127.0.0.1.")
    parser.add_argument("--customers", type=int, default=Dataset.customers)
    parser.add_argument("--seed", type=int, default=Dataset.seed)
    parser.add_argument("--team-share", type=float, default=Dataset.team_share)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--subscriptions", type=int, help="a benchmark organization's billing: this many")
    parser.add_argument("--orders", type=int, help="orders of that billing")
    parser.add_argument("--products", type=int, help="products of that billing")
    parser.add_argument("--as-of", help="the day the billing describes (ISO date; default today)")
    args = parser.parse_args(argv)

    import uvicorn

    customers = Dataset(args.customers, args.seed, args.team_share).generate()
    fake = FakePolar(customers, billing=billing_for(customers, args))
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so, and without it
    # every response under 64 KB waits ~40 ms on Nagle plus delayed ACK, swamping what we measure.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", args.port))
    config = uvicorn.Config(_with_stats(fake), log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)

    async def announce_then_serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn offers only a flag
            await asyncio.sleep(0.01)
        print(f"PORT {sock.getsockname()[1]}", flush=True)
        await task

    asyncio.run(announce_then_serve())


if __name__ == "__main__":
    main()
