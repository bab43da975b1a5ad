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
    "match_child",
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


def _children() -> dict[int, list[str]]:
    """This process's children: PID to argv, from /proc."""
    found: dict[int, list[str]] = {}
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == me:
            found[int(entry.name)] = [arg.decode(errors="replace") for arg in cmdline.split(b"\0")[:-1]]
    return found


def match_child(children: dict[int, list[str]], params: StdioServerParameters) -> int:
    """PID of the one process in `children` (PID to argv) started from `params`.

    The argv must be the command and its arguments exactly, or, for a script the kernel runs through
    its `#!` interpreter, that interpreter followed by them. A substring of the command line would
    also match every process whose path contains it: in a checkout named `polar-mcp`, the Python of
    its `.venv` runs every child.
    """
    argv = [params.command, *params.args]
    matches = [pid for pid, found in children.items() if argv in (found, found[1:])]
    if len(matches) != 1:
        raise RuntimeError(f"expected one child process started as {argv}, found {len(matches)}")
    return matches[0]


def find_child(params: StdioServerParameters) -> int:
    """PID of the one child process of this one started from `params` (see `match_child`)."""
    return match_child(_children(), params)


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
