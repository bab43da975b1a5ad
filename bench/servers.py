"""How the benchmarks start MCP servers over stdio, find their process, and read what the model sees."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TextIO

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp_types import CallToolResult

from bench.fixture import FakeServer

__all__ = [
    "OUR_TOOL",
    "RESULTS_DIR",
    "connect",
    "cpu_seconds",
    "find_child",
    "our_server",
    "rss_mib",
    "server_log",
    "spawn_times",
    "text_of",
]

OUR_TOOL = "list_customers"
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def our_server(fake: FakeServer) -> StdioServerParameters:
    """`polar-mcp` as a desktop client would start it, pointed at the fake."""
    script = Path(sys.executable).parent / "polar-mcp"
    command, args = (str(script), []) if script.exists() else (sys.executable, ["-m", "polar_mcp"])
    return StdioServerParameters(
        command=command, args=args, env={"POLAR_SERVER_URL": fake.url, "POLAR_ACCESS_TOKEN": fake.token}
    )


def server_log(name: str) -> TextIO:
    """Where a spawned server's stderr goes, so its log lines stay out of the tables."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    return (RESULTS_DIR / f"{name}.stderr.log").open("a", encoding="utf-8")


@asynccontextmanager
async def connect(params: StdioServerParameters, log: str) -> AsyncIterator[Client]:
    """A real MCP client session over stdio with a freshly spawned server; its stderr goes to `log`."""
    with server_log(log) as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            yield client


async def spawn_times(params: StdioServerParameters, log: str, runs: int) -> list[float]:
    """Seconds from spawning a server to its first tools/list answer, `runs` times."""
    durations = []
    for _ in range(runs):
        start = time.perf_counter()
        async with connect(params, log) as client:
            await client.list_tools()
            durations.append(time.perf_counter() - start)
    return durations


def text_of(result: CallToolResult) -> str:
    """The tool result as the model reads it: its text content blocks."""
    return "\n".join(block.text for block in result.content if block.type == "text")


def _children() -> dict[int, str]:
    found: dict[int, str] = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == me:
            found[int(entry.name)] = cmdline
    return found


def find_child(marker: str) -> int:
    """PID of the one child process of this one whose command line contains `marker`."""
    matches = [pid for pid, cmdline in _children().items() if marker in cmdline]
    if len(matches) != 1:
        raise RuntimeError(f"expected one child process matching {marker!r}, found {len(matches)}")
    return matches[0]


def rss_mib(pid: int) -> float:
    """Resident set size of `pid` in MiB, from /proc/PID/status (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time `pid` has used so far, user plus system, from /proc/PID/stat (clock-tick resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
