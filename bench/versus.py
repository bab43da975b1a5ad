"""Head to head with Polar's own generated MCP server (`@polar-sh/sdk`): same fake, same page, alternating.

Polar's server (0.36.2) rejects team customers, so this benchmark serves individuals only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from contextlib import AsyncExitStack
from pathlib import Path

from mcp import Client, StdioServerParameters

from bench.fixture import FakeServer
from bench.plan import Plan
from bench.report import Section, Target
from bench.servers import OUR_TOOL, connect, our_server, spawn_times, text_of
from bench.stats import count_tokens, median_ms, p95_ms

__all__ = ["POLAR_SDK_VERSION", "cold_start_theirs", "ensure_polar_sdk", "measure_versus", "polar_server"]

POLAR_SDK_VERSION = "0.36.2"
SDK_DIR = Path(__file__).resolve().parent / "polar-sdk"
MCP_SCRIPT = SDK_DIR / "node_modules" / "@polar-sh" / "sdk" / "bin" / "mcp-server.js"
TIME_SHARE = 0.8
"""Target at limit 100: our median call takes at most this share of Polar's server's."""
TOKEN_SHARE = 0.25
"""Target at limit 100: our concise text costs at most this share of the tokens of Polar's server's text."""


def ensure_polar_sdk() -> str | None:
    """Install the pinned SDK with npm if needed; return why it is unavailable, or None when ready."""
    if shutil.which("node") is None:
        return "node is not installed"
    installed = SDK_DIR / "node_modules" / "@polar-sh" / "sdk" / "package.json"
    if installed.exists() and json.loads(installed.read_text())["version"] == POLAR_SDK_VERSION:
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    command = [
        npm,
        "ci" if (SDK_DIR / "package-lock.json").exists() else "install",
        "--no-audit",
        "--no-fund",
    ]
    try:
        done = subprocess.run(command, cwd=SDK_DIR, capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return "npm install timed out"
    if done.returncode != 0 or not installed.exists():
        return f"npm failed ({done.returncode}): {done.stderr.strip()[-300:]}"
    return None


def polar_server(fake: FakeServer) -> StdioServerParameters:
    """Polar's server as its docs start it, limited to the one tool we compare with."""
    # The token travels as an argument because that is how this server takes it; it is never printed.
    return StdioServerParameters(
        command="node",
        args=[
            str(MCP_SCRIPT),
            "start",
            "--server-url",
            fake.url,
            "--access-token",
            fake.token,
            "--tool",
            "customers-list",
        ],
    )


async def _polar_tool(client: Client) -> str:
    tools = (await client.list_tools()).tools
    names = [t.name for t in tools if "customers" in t.name and "list" in t.name]
    if len(names) != 1:
        raise RuntimeError(f"Polar's server lists no single customers list tool: {[t.name for t in tools]}")
    tool = next(t for t in tools if t.name == names[0])
    if "request" not in tool.input_schema.get("properties", {}):
        raise RuntimeError(f"Polar's {tool.name} no longer takes a 'request' argument")
    return tool.name


def _check_theirs(text: str, is_error: bool, limit: int) -> None:
    """Count only successes: an error result or a page of the wrong size would flatter either side."""
    if is_error:
        raise RuntimeError(f"Polar's server returned an error: {text[:300]}")
    items = json.loads(text).get("items")
    if not isinstance(items, list) or len(items) != limit:
        raise RuntimeError(f"Polar's server returned {len(items or [])} customers, expected {limit}")


async def measure_versus(fake: FakeServer, plan: Plan) -> Section:
    section = Section(
        f"Against Polar's own MCP server (@polar-sh/sdk {POLAR_SDK_VERSION}, individuals only, alternating)",
        ["limit", "server", "median ms", "p95 ms", "text tokens", "ours / theirs"],
    )
    reason = ensure_polar_sdk()
    if reason is not None:
        section.notes.append(f"SKIPPED: {reason}. Install Node.js and npm to compare with Polar's server.")
        section.targets.append(
            Target(f"limit 100 time <= {TIME_SHARE:.0%} of Polar's", None, TIME_SHARE * 100, "%")
        )
        section.targets.append(
            Target(f"limit 100 tokens <= {TOKEN_SHARE:.0%} of Polar's", None, TOKEN_SHARE * 100, "%")
        )
        return section
    async with AsyncExitStack() as stack:
        ours = await stack.enter_async_context(connect(our_server(fake), "polar-mcp"))
        theirs = await stack.enter_async_context(connect(polar_server(fake), "polar-sdk"))
        their_tool = await _polar_tool(theirs)
        await ours.list_tools()
        for limit in plan.limits:
            sizes: dict[str, int] = {}
            times: dict[str, list[float]] = {"polar-mcp": [], "Polar SDK": []}

            async def call(who: str, limit: int = limit, sizes: dict[str, int] = sizes) -> float:
                start = time.perf_counter()
                if who == "polar-mcp":
                    result = await ours.call_tool(OUR_TOOL, {"limit": limit})
                    elapsed = time.perf_counter() - start
                    if result.is_error:
                        raise RuntimeError(f"list_customers failed: {text_of(result)[:300]}")
                else:
                    result = await theirs.call_tool(their_tool, {"request": {"limit": limit}})
                    elapsed = time.perf_counter() - start
                    _check_theirs(text_of(result), bool(result.is_error), limit)
                sizes[who] = count_tokens(text_of(result))
                return elapsed

            order: list[str] = list(times)
            for _ in range(2):  # warm-up
                for who in order:
                    await call(who)
            for i in range(plan.versus_calls):
                for who in order if i % 2 == 0 else order[::-1]:
                    times[who].append(await call(who))
            detailed = await ours.call_tool(OUR_TOOL, {"limit": limit, "response_format": "detailed"})
            detailed_size = count_tokens(text_of(detailed))
            ours_ms, theirs_ms = median_ms(times["polar-mcp"]), median_ms(times["Polar SDK"])
            time_ratio, token_ratio = ours_ms / theirs_ms, sizes["polar-mcp"] / sizes["Polar SDK"]
            section.add(
                limit,
                "polar-mcp (concise)",
                ours_ms,
                p95_ms(times["polar-mcp"]),
                sizes["polar-mcp"],
                f"{time_ratio:.2f}x time, {token_ratio:.2f}x tokens",
            )
            section.add(
                limit,
                "polar-mcp (detailed, tokens only)",
                "",
                "",
                detailed_size,
                f"{detailed_size / sizes['Polar SDK']:.2f}x tokens",
            )
            section.add(
                limit,
                "Polar SDK customers-list",
                theirs_ms,
                p95_ms(times["Polar SDK"]),
                sizes["Polar SDK"],
                "",
            )
            prefix = f"versus.limit{limit}"
            section.figures |= {
                f"{prefix}.ours.median_ms": ours_ms,
                f"{prefix}.ours.p95_ms": p95_ms(times["polar-mcp"]),
                f"{prefix}.theirs.median_ms": theirs_ms,
                f"{prefix}.theirs.p95_ms": p95_ms(times["Polar SDK"]),
                f"{prefix}.ours.tokens": sizes["polar-mcp"],
                f"{prefix}.ours_detailed.tokens": detailed_size,
                f"{prefix}.theirs.tokens": sizes["Polar SDK"],
                f"{prefix}.time_ratio": time_ratio,
                f"{prefix}.token_ratio": token_ratio,
            }
            if limit == 100:
                section.targets.append(
                    Target(
                        f"limit 100 time <= {TIME_SHARE:.0%} of Polar's",
                        time_ratio * 100,
                        TIME_SHARE * 100,
                        unit="%",
                    )
                )
                section.targets.append(
                    Target(
                        f"limit 100 tokens <= {TOKEN_SHARE:.0%} of Polar's",
                        token_ratio * 100,
                        TOKEN_SHARE * 100,
                        unit="%",
                    )
                )
    section.notes.append(f"{plan.versus_calls} timed calls per server and limit, order swapped every round.")
    return section


async def cold_start_theirs(fake: FakeServer, runs: int) -> list[float]:
    """Spawn of Polar's server to its first tools/list answer, `runs` times (seconds)."""
    return await spawn_times(polar_server(fake), "polar-sdk", runs)
