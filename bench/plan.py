"""How much work each benchmark does in quick (CI smoke) and full mode."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FULL", "QUICK", "Plan"]


@dataclass(frozen=True)
class Plan:
    """Iteration counts; `enforce` turns missed targets into a failing exit code."""

    name: str
    latency_calls: int
    versus_calls: int
    cold_starts: int
    import_runs: int
    memory_calls: int
    enforce: bool
    limits: tuple[int, ...] = (10, 100)
    query_customers: int | None = 50_000
    """Size of the organization the whole-base question is asked of; None: the suite's data set."""


QUICK = Plan(
    "quick",
    latency_calls=10,
    versus_calls=6,
    cold_starts=3,
    import_runs=1,
    memory_calls=100,
    enforce=False,
    query_customers=None,
)
FULL = Plan(
    "full",
    latency_calls=200,
    versus_calls=100,
    cold_starts=12,
    import_runs=5,
    memory_calls=1000,
    enforce=True,
)
