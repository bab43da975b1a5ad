"""Every tool's schema (name, description, annotations, input and output schema) is snapshotted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mcp import Client

from polar_mcp.server import PolarMCPServer
from tests.conftest import TOOL_NAMES
from tests.helpers import MODES

pytestmark = pytest.mark.anyio

SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", TOOL_NAMES)
async def test_tool_schema_matches_snapshot(server: PolarMCPServer, mode: str, name: str) -> None:
    async with Client(server, mode=mode) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert list(tools) == TOOL_NAMES
    actual = tools[name].model_dump(mode="json", by_alias=True, exclude_none=True)
    snapshot = SNAPSHOTS / f"{name}.json"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    if not snapshot.exists():
        pytest.fail(f"no schema snapshot; review and commit {snapshot} (written by UPDATE_SNAPSHOTS=1)")
    expected = json.loads(snapshot.read_text())
    assert actual == expected, "the tool schema changed: review it and run with UPDATE_SNAPSHOTS=1"


def test_every_snapshot_belongs_to_a_tool() -> None:
    assert sorted(path.stem for path in SNAPSHOTS.glob("*.json")) == sorted(TOOL_NAMES)
