"""The layers hold: every import of the package, at module level or inside a function, runs downward.

    polar_mcp, config, errors, sanitize      what every layer shares
    polar/                                    the Polar API client: nothing from MCP or above
    demo/                                     the fake Polar and the sample organization
    snapshots/                                SQL over Polar's export
    views                                     the built MCP Apps views
    tools/                                    one module per tool
    server                                    build_server and the one error boundary
    logs, startup, cli, export_command, http, limits, __main__     the wiring

Only `startup` (the wiring) reaches `demo/`; nothing imports in a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "polar_mcp"

RANKS = {
    "polar_mcp": 0,
    "polar_mcp.config": 0,
    "polar_mcp.errors": 0,
    "polar_mcp.sanitize": 0,
    "polar_mcp.polar": 1,
    "polar_mcp.demo": 2,
    "polar_mcp.snapshots": 3,
    "polar_mcp.views": 4,
    "polar_mcp.tools": 5,
    "polar_mcp.server": 6,
    "polar_mcp.logs": 7,
    "polar_mcp.startup": 7,
    "polar_mcp.cli": 7,
    "polar_mcp.export_command": 7,
    "polar_mcp.http": 7,
    "polar_mcp.limits": 7,
    "polar_mcp.__main__": 7,
}
# What the Polar client may not know about: it serves the tools, it is not one of them.
FOREIGN_TO_THE_CLIENT = ("mcp", "mcp_types", "starlette", "uvicorn")
DEMO_IMPORTERS = {"polar_mcp.startup"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, absolute, wherever the import statement stands."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {
        name: {target for target in imports(path) if target.split(".")[0] == "polar_mcp" and target != name}
        for name, path in modules.items()
    }


def rank(module: str) -> int:
    """The layer of `module`: that of its longest prefix in `RANKS`."""
    parts = module.split(".")
    for size in range(len(parts), 0, -1):
        found = RANKS.get(".".join(parts[:size]))
        if found is not None:
            return found
    raise AssertionError(f"{module} is in no layer: add it to RANKS")


def test_every_module_is_in_a_layer() -> None:
    for module in graph():
        rank(module)


@pytest.mark.parametrize("module", sorted(graph()))
def test_no_module_imports_a_layer_above_its_own(module: str) -> None:
    upward = sorted(target for target in graph()[module] if rank(target) > rank(module))
    assert not upward, f"{module} (layer {rank(module)}) imports upward: {upward}"


def test_the_polar_client_imports_nothing_from_mcp_or_serving() -> None:
    for path in (PACKAGE / "polar").rglob("*.py"):
        foreign = [name for name in imports(path) if name.split(".")[0] in FOREIGN_TO_THE_CLIENT]
        assert not foreign, f"{path.name} imports {foreign}"


def test_only_the_start_up_wiring_reaches_the_demo() -> None:
    reach = {
        module
        for module, targets in graph().items()
        if not module.startswith("polar_mcp.demo") and any(t.startswith("polar_mcp.demo") for t in targets)
    }
    assert reach == DEMO_IMPORTERS


def test_no_import_cycles() -> None:
    edges = graph()
    modules = set(edges)
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(module) :], module]))
        if module in done:
            return
        for target in sorted(edges.get(module, ())):
            if target in modules:
                visit(target, (*path, module))
        done.add(module)

    for module in sorted(modules):
        visit(module, ())


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from polar_mcp.tools import TOOLS\n", "polar_mcp.tools"),
        ("def f():\n    from polar_mcp.demo import demo_transport\n", "polar_mcp.demo"),
        ("import polar_mcp.server\n", "polar_mcp.server"),
    ],
)
def test_imports_are_found_at_module_level_and_inside_functions(
    tmp_path: Path, source: str, expected: str
) -> None:
    path = tmp_path / "example.py"
    path.write_text(source)
    assert list(imports(path)) == [expected]
