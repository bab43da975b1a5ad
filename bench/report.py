"""Figures and targets of a run: the printed tables, the JSON file, and the side-by-side comparison."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["Section", "Target", "compare", "load", "render", "table", "write_json"]

Status = Literal["PASS", "MISS", "SKIP"]


@dataclass
class Target:
    """A goal such as `concise bytes <= 20% of raw`: `actual` is compared with `limit` (lower is better)."""

    name: str
    actual: float | None
    limit: float
    unit: str = ""
    correctness: bool = False
    """A correctness check (nothing missed, no error) rather than a speed or size goal."""

    @property
    def status(self) -> Status:
        if self.actual is None:
            return "SKIP"
        return "PASS" if self.actual <= self.limit else "MISS"

    def describe(self) -> str:
        if self.actual is None:
            return f"{self.name}: skipped"
        return f"{self.name}: {_num(self.actual)}{self.unit} (limit {_num(self.limit)}{self.unit})"


@dataclass
class Section:
    """One benchmark's table, its figures (flat, numeric, for JSON and comparison) and its targets."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([c if isinstance(c, str) else _num(c) for c in cells])


def _num(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or (value.is_integer() and abs(value) >= 100):
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def render(sections: list[Section], enforced: bool) -> str:
    """Every section's table, then the targets with PASS/MISS."""
    out: list[str] = []
    for section in sections:
        out += [f"== {section.title} ==", *table(section.headers, section.rows)]
        out += [f"   {note}" for note in section.notes]
        out.append("")
    targets = [t for s in sections for t in s.targets]
    if targets:
        title = "== Targets ==" if enforced else "== Targets (quick mode: indicative, not enforced) =="
        out += [
            title,
            *table(
                ["target", "actual", "limit", "status"],
                [
                    [
                        t.name,
                        "-" if t.actual is None else _num(t.actual) + t.unit,
                        _num(t.limit) + t.unit,
                        t.status,
                    ]
                    for t in targets
                ],
            ),
        ]
    return "\n".join(out)


def write_json(path: Path, meta: dict[str, Any], sections: list[Section]) -> None:
    """Write the run's figures, targets and tables to `path`."""
    payload = {
        "meta": meta,
        "figures": {k: v for s in sections for k, v in s.figures.items()},
        "targets": [asdict(t) | {"status": t.status} for s in sections for t in s.targets],
        "sections": [asdict(s) for s in sections],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load(path: Path) -> dict[str, Any]:
    """Read a results file written by `write_json`."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def compare(a: dict[str, Any], b: dict[str, Any], name_a: str, name_b: str) -> str:
    """Every figure of two runs side by side, with B/A (below 1 means B is smaller: faster or leaner)."""
    fig_a: dict[str, float] = a.get("figures", {})
    fig_b: dict[str, float] = b.get("figures", {})
    rows = []
    for key in sorted(set(fig_a) | set(fig_b)):
        va, vb = fig_a.get(key), fig_b.get(key)
        ratio = f"{vb / va:.2f}x" if va and vb is not None else "-"
        rows.append([key, "-" if va is None else _num(va), "-" if vb is None else _num(vb), ratio])
    status_a = {t["name"]: t["status"] for t in a.get("targets", [])}
    status_b = {t["name"]: t["status"] for t in b.get("targets", [])}
    out = table(["figure", f"A: {name_a}", f"B: {name_b}", "B/A"], rows)
    if status_a or status_b:
        out += [
            "",
            *table(
                ["target", "A", "B"],
                [
                    [n, status_a.get(n, "-"), status_b.get(n, "-")]
                    for n in sorted(set(status_a) | set(status_b))
                ],
            ),
        ]
    return "\n".join(out)
