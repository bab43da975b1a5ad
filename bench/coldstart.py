"""Cold start: spawn of `polar-mcp` to its first tools/list answer; our import time beyond the SDK's."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

from bench.fixture import FakeServer
from bench.plan import Plan
from bench.report import Section, Target
from bench.servers import our_server, spawn_times
from bench.stats import median_ms
from bench.versus import cold_start_theirs, ensure_polar_sdk

__all__ = ["IMPORT_BUDGET_MS", "ImportTimes", "import_times", "measure_cold_start"]

IMPORT_BUDGET_MS = 100.0
"""Target: importing our modules costs at most this much on top of what the SDK imports anyway."""

SDK_IMPORT = "import mcp.server.mcpserver, mcp_types"
OUR_IMPORT = "import polar_mcp.server"


@dataclass(frozen=True)
class ImportTimes:
    """Self import times (ms) from one `-X importtime` run of `import polar_mcp.server`."""

    total_ms: float
    sdk_ms: float
    """Modules the SDK imports by itself (measured in a run that imports only the SDK)."""
    beyond_sdk_ms: float
    """Everything else: polar_mcp.* and whatever only they pull in."""
    own_ms: float
    """polar_mcp.* modules' own code."""
    extra: dict[str, float]
    """Modules imported beyond the SDK's, by self time (ms)."""


def _importtime(statement: str) -> dict[str, float]:
    """Self time in ms of every module `statement` imports, from `python -X importtime`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True, check=True
    )
    times: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|", 2)
        times[name.strip()] = int(self_us) / 1000
    return times


def import_times(runs: int) -> ImportTimes:
    """Median over `runs` pairs of runs, after one untimed pair that warms the bytecode caches."""
    _importtime(SDK_IMPORT)
    _importtime(OUR_IMPORT)
    samples: list[ImportTimes] = []
    for _ in range(runs):
        sdk = set(_importtime(SDK_IMPORT))
        ours = _importtime(OUR_IMPORT)
        extra = {name: ms for name, ms in ours.items() if name not in sdk}
        samples.append(
            ImportTimes(
                total_ms=sum(ours.values()),
                sdk_ms=sum(ms for name, ms in ours.items() if name in sdk),
                beyond_sdk_ms=sum(extra.values()),
                own_ms=sum(ms for name, ms in ours.items() if name.split(".")[0] == "polar_mcp"),
                extra=extra,
            )
        )
    samples.sort(key=lambda s: s.beyond_sdk_ms)
    return samples[len(samples) // 2]


async def measure_cold_start(fake: FakeServer, plan: Plan) -> Section:
    section = Section("Cold start", ["what", "median ms", "min ms", "max ms"])
    ours = await spawn_times(our_server(fake), "polar-mcp", plan.cold_starts)
    section.add(
        f"polar-mcp: spawn to first tools/list answer ({len(ours)} runs)",
        median_ms(ours),
        min(ours) * 1000,
        max(ours) * 1000,
    )
    section.figures["cold_start.ours.median_ms"] = median_ms(ours)
    if ensure_polar_sdk() is None:
        theirs = await cold_start_theirs(fake, plan.cold_starts)
        section.add(
            f"Polar SDK server: the same ({len(theirs)} runs)",
            median_ms(theirs),
            min(theirs) * 1000,
            max(theirs) * 1000,
        )
        section.figures["cold_start.theirs.median_ms"] = median_ms(theirs)

    times = import_times(plan.import_runs)
    section.add(
        f"import polar_mcp.server, total self time (median of {plan.import_runs})", times.total_ms, "", ""
    )
    section.add("  modules the MCP SDK imports anyway", times.sdk_ms, "", "")
    section.add("  beyond the SDK (our cost)", times.beyond_sdk_ms, "", "")
    section.add("    of which polar_mcp.* own code", times.own_ms, "", "")
    top = sorted(times.extra.items(), key=lambda item: -item[1])[:6]
    section.notes.append("largest imports beyond the SDK: " + ", ".join(f"{n} {ms:.1f}" for n, ms in top))
    section.notes.append(
        "import figures: python -X importtime self times, summed; the SDK's set is taken from a"
    )
    section.notes.append(
        f"separate run of `{SDK_IMPORT}`. Spawn includes interpreter start and the MCP handshake."
    )
    section.figures |= {
        "imports.total_ms": times.total_ms,
        "imports.sdk_ms": times.sdk_ms,
        "imports.beyond_sdk_ms": times.beyond_sdk_ms,
        "imports.own_ms": times.own_ms,
    }
    section.targets.append(
        Target(
            f"our imports beyond the SDK <= {IMPORT_BUDGET_MS:.0f} ms",
            times.beyond_sdk_ms,
            IMPORT_BUDGET_MS,
            unit=" ms",
        )
    )
    return section
