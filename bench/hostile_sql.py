"""One caller against everyone else: the SQL attacks that once stopped the HTTP server, run against the real
deployment on 127.0.0.1, with what a bystander sees meanwhile.

    .venv/bin/python -m bench.hostile_sql            # every attack, about 2 minutes
    .venv/bin/python -m bench.hostile_sql --quick    # lighter attacks, a smoke run

`polar-mcp --transport streamable-http` runs in a subprocess against the fake Polar (its own process).
For each attack, the attacker's calls run while a bystander, on its own MCP session, makes a trivial
`query_customers` call on another snapshot and probes `/healthz`; the figures are how long those took,
the server's peak resident memory during the attack (VmHWM, reset before each), and, at the end, how
long SIGTERM takes to stop the server while an attack runs. Targets: a trivial call waits at most 3 s,
`/healthz` answers within 1 s, peak memory under 300 MiB, SIGTERM within the 25 s grace period.
The export-size attack (a hostile export of huge rows) is measured on a `polar-mcp call` process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

if __package__ in (None, ""):  # `python bench/hostile_sql.py` from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fixture import Dataset, FakeServer, serve_fake
from bench.load_http import _free_port, server_command
from bench.servers import RESULTS_DIR
from tests.hostile import Exchange, HostileUpstream

__all__ = ["ATTACKS", "main"]

TRIVIAL = "SELECT COUNT(*) FROM customers"
BYSTANDER_ORG = "0b8e1d0a-4f7c-4a53-9d5e-3f2f4d9b6c11"  # another organization choice: a snapshot of its own
SPREAD_ORGS = [f"0b8e1d0a-4f7c-4a53-9d5e-{n:012d}" for n in range(3)]
GRACE_SECONDS = 25.0
TARGETS = {
    "trivial_wait_s": 3.0,
    "other_snapshot_wait_s": 3.0,
    "healthz_s": 1.0,
    "peak_rss_mib": 300.0,
    "sigterm_s": GRACE_SECONDS,
}


@dataclass(frozen=True)
class Attack:
    """An attacker's statements, each sent at once from an MCP session of its own, on the snapshot the
    bystander's first trivial call uses, or each on a snapshot of its own (`spread`)."""

    name: str
    statements: list[str]
    spread: bool = False


def huge_cells(rows: int, columns: int) -> str:
    cells = ", ".join(f"hex(zeroblob(499999)) || '{n}' AS c{n}" for n in range(columns))
    counter = f"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < {rows})"
    return f"{counter} SELECT {cells} FROM r"


INSTR = (
    "WITH t(h, n) AS (SELECT replace(hex(zeroblob(499999)), '0', 'a'), "
    "replace(hex(zeroblob(250000)), '0', 'a') || 'b') "
    "SELECT instr(h, n) + instr(h, n) + instr(h, n) + instr(h, n) FROM t"
)
ENDLESS = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT COUNT(*) FROM c"


def attacks(quick: bool) -> list[Attack]:
    many = 10 if quick else 45
    return [
        Attack("200 rows x 5 cells of 1 MB (render, memory)", [huge_cells(200, 5)]),
        Attack("the same on three snapshots at once", [huge_cells(200, 5)] * 3, spread=True),
        Attack("instr() on two large strings, 4 times", [INSTR]),
        Attack(f"{many} statements that each use their whole time", [ENDLESS] * many),
        Attack("fts3_tokenizer() (refused)", ["SELECT hex(fts3_tokenizer('simple'))"]),
    ]


ATTACKS = attacks(False)


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident size since the last reset (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


def reset_peak(pid: int) -> None:
    # Writing 5 to clear_refs resets VmHWM to the current resident size (Linux 4.0 and later).
    Path(f"/proc/{pid}/clear_refs").write_text("5")


ATTACKER_ADDRESS = "127.0.0.2"  # the bystander connects from 127.0.0.1: another caller


class Session:
    """One MCP client over streamable HTTP with the server's bearer token, from a loopback address."""

    def __init__(self, url: str, token: str, address: str = "127.0.0.1") -> None:
        self.url, self.token, self.address = url, token, address

    async def call(self, sql: str, organization_id: str | None = None) -> tuple[float, str]:
        arguments: dict[str, Any] = {"sql": sql}
        if organization_id:
            arguments["organization_id"] = organization_id
        headers = {"Authorization": f"Bearer {self.token}"}
        started = time.monotonic()
        async with (
            httpx2.AsyncClient(
                headers=headers, timeout=120, transport=httpx2.AsyncHTTPTransport(local_address=self.address)
            ) as http,
            Client(streamable_http_client(f"{self.url}/mcp", http_client=http)) as client,
        ):
            result = await client.call_tool("query_customers", arguments)
        text = "".join(block.text for block in result.content if block.type == "text")
        first = text.splitlines()[0] if text else ""
        return time.monotonic() - started, ("error: " if result.is_error else "") + first[:90]


async def healthz(url: str) -> float:
    async with httpx.AsyncClient(timeout=30) as http:
        started = time.monotonic()
        (await http.get(f"{url}/healthz")).raise_for_status()
        return time.monotonic() - started


async def run_attack(attack: Attack, url: str, token: str, pid: int) -> dict[str, Any]:
    reset_peak(pid)
    outcomes: list[tuple[float, str]] = []

    async def attacker(index: int) -> None:
        organization = SPREAD_ORGS[index] if attack.spread else None
        # Spread over snapshots, each call comes from an address of its own: three callers at once.
        session = Session(url, token, f"127.0.0.{2 + index}" if attack.spread else ATTACKER_ADDRESS)
        outcomes.append(await session.call(attack.statements[index], organization))

    bystander: dict[str, Any] = {}
    async with anyio.create_task_group() as group:
        for index in range(len(attack.statements)):
            group.start_soon(attacker, index)
        await anyio.sleep(0.1)  # a benchmark, not a test: let the attack get under way first
        bystander["healthz_s"] = await healthz(url)
        # On the attacked snapshot, then on another one.
        bystander["trivial_wait_s"], bystander["trivial"] = await Session(url, token).call(TRIVIAL)
        bystander["other_snapshot_wait_s"], bystander["other_snapshot"] = await Session(url, token).call(
            TRIVIAL, BYSTANDER_ORG
        )
    bystander["peak_rss_mib"] = peak_rss_mib(pid)
    bystander["attacker"] = outcomes[0][1] if outcomes else ""
    bystander["attacker_s"] = max(elapsed for elapsed, _ in outcomes) if outcomes else 0.0
    return bystander


async def sigterm_during(attack: Attack, fake: FakeServer, quick: bool) -> float:
    """Seconds from SIGTERM to exit while `attack` runs."""
    token = secrets.token_urlsafe(32)
    port = _free_port()
    command = server_command(0, port)
    env = _server_env(fake, token)
    process = await anyio.open_process(command, env=env, stderr=_log())
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_healthy(url, process)
        await Session(url, token).call(TRIVIAL)  # the snapshot exists before the attack
        async with anyio.create_task_group() as group:

            async def attacker(sql: str) -> None:
                try:
                    await Session(url, token).call(sql)
                except Exception:  # the server goes away under it: that is the point
                    return

            for sql in attack.statements:
                group.start_soon(attacker, sql)
            await anyio.sleep(0.5)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            with anyio.fail_after(GRACE_SECONDS + 30):
                await process.wait()
            group.cancel_scope.cancel()
        return time.monotonic() - started
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _server_env(fake: FakeServer, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLAR_")}
    env.update(POLAR_SERVER_URL=fake.url, POLAR_ACCESS_TOKEN=fake.token, POLAR_MCP_AUTH_TOKEN=token)
    return env


def _log() -> Any:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    return (RESULTS_DIR / "hostile_sql.stderr.log").open("ab")


async def _wait_healthy(url: str, process: Any) -> None:
    with anyio.fail_after(30):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"the server exited with {process.returncode}")
            try:
                await healthz(url)
                return
            except httpx.HTTPError:
                await anyio.sleep(0.05)


# --- a hostile export, measured on one `polar-mcp call` process ----------------------------------------

MEASURE = """
import resource, subprocess, sys, time
started = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print((done.stdout or done.stderr).strip().splitlines()[0][:110])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.monotonic() - started)
"""
HEADER = b"ID,External ID,Created At,Email,Name,Tax ID,Billing Address Line 1,Billing Address Line 2,"
HEADER += (
    b"Billing Address City,Billing Address State,Billing Address Zip,Billing Address Country,Metadata\r\n"
)


def huge_rows(rows: int, row_bytes: int) -> Callable[[Exchange], Awaitable[None]]:
    async def script(exchange: Exchange) -> None:
        await exchange.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/csv\r\nconnection: close\r\n\r\n" + HEADER
        )
        name = b"x" * row_bytes
        for n in range(rows):
            await exchange.send(b"c%d,,2026-01-01T00:00:00+00:00,,%s,,,,,,,,{}\r\n" % (n, name))
        exchange.writer.close()

    return script


async def hostile_export(rows: int, row_bytes: int) -> dict[str, Any]:
    async with HostileUpstream(huge_rows(rows, row_bytes)) as upstream:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POLAR_")}
        env.update(POLAR_ACCESS_TOKEN="polar_oat_bench_hostile_0123456789", POLAR_SERVER_URL=upstream.url)
        command = [sys.executable, "-m", "polar_mcp", "call", "query_customers", json.dumps({"sql": TRIVIAL})]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", MEASURE, *command, env=env, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(process.communicate(), 300)
    first, figures = out.decode(errors="replace").strip().splitlines()[-2:]
    peak_kib, seconds = figures.split()
    return {"peak_rss_mib": int(peak_kib) / 1024, "seconds": float(seconds), "answer": first}


async def main(quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {"targets": TARGETS}
    chosen = attacks(quick)
    with serve_fake(Dataset(customers=3000)) as fake:
        token = secrets.token_urlsafe(32)
        port = _free_port()
        process = await anyio.open_process(
            server_command(0, port), env=_server_env(fake, token), stderr=_log()
        )
        url = f"http://127.0.0.1:{port}"
        try:
            await _wait_healthy(url, process)
            session = Session(url, token)
            await session.call(TRIVIAL)
            for organization in (BYSTANDER_ORG, *SPREAD_ORGS):  # every snapshot warm: only attacks count
                await session.call(TRIVIAL, organization)
            print(
                f"{'attack':50} {'trivial s':>9} {'other s':>8} {'healthz s':>9} {'peak MiB':>8} "
                f"{'attack s':>8}  trivial's answer / attacker's answer"
            )
            for attack in chosen:
                figures = await run_attack(attack, url, token, process.pid)
                results[attack.name] = figures
                waits = f"{figures['trivial_wait_s']:9.2f} {figures['other_snapshot_wait_s']:8.2f}"
                seen = (
                    f"{figures['healthz_s']:9.3f} {figures['peak_rss_mib']:8.1f} {figures['attacker_s']:8.2f}"
                )
                answers = f"{figures['trivial'][:40]} / {figures['attacker'][:60]}"
                print(f"{attack.name:50} {waits} {seen}  {answers}")
        finally:
            process.send_signal(signal.SIGTERM)
            with anyio.move_on_after(40):
                await process.wait()
            if process.returncode is None:
                process.kill()
        results["sigterm_s"] = await sigterm_during(chosen[3], fake, quick)
        print(f"SIGTERM during {chosen[3].name!r}: exited in {results['sigterm_s']:.2f} s")
    rows = 100 if quick else 1000
    export = await hostile_export(rows, 1_000_000)
    results[f"export of {rows} rows of 1 MB"] = export
    print(f"export of {rows} rows of 1 MB: peak {export['peak_rss_mib']:.1f} MiB, {export['seconds']:.1f} s")
    print(f"  {export['answer']}")
    misses = [
        f"{name}: {key} {figures[key]:.2f} > {TARGETS[key]:g}"
        for name, figures in results.items()
        if isinstance(figures, dict) and name != "targets"
        for key in TARGETS
        if key in figures and figures[key] > TARGETS[key]
    ]
    if results["sigterm_s"] > TARGETS["sigterm_s"]:
        misses.append(f"SIGTERM took {results['sigterm_s']:.1f} s")
    for miss in misses:
        print(f"MISS {miss}")
    results["misses"] = misses
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="lighter attacks, a smoke run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures = anyio.run(main, args.quick)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    sys.exit(1 if figures["misses"] else 0)
