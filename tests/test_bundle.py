"""The Claude Desktop bundle: manifest in step with the package and the server, built and run for real.

The Node tools (mcpb, the MCP Inspector) come from `npm ci`; CI sets REQUIRE_NODE_TOOLS=1 so that a
missing tool fails instead of skipping.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from mcp import Client

import polar_mcp
from polar_mcp.startup import server_from, start

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = json.loads((ROOT / "manifest.json").read_text())


def node_tool(name: str) -> str:
    local = ROOT / "node_modules" / ".bin" / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None or shutil.which("node") is None:  # the tools are node scripts
        if os.environ.get("REQUIRE_NODE_TOOLS") == "1":
            pytest.fail(f"{name} is not installed: run `npm ci` in the repository")
        pytest.skip(f"{name} is not installed (npm ci)")
    return found


def test_manifest_version_is_the_package_version() -> None:
    assert MANIFEST["version"] == polar_mcp.__version__


def test_changelog_names_the_package_version_as_the_newest_release() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    releases = [heading for heading in re.findall(r"^## (.+)$", changelog, re.M) if heading != "Unreleased"]
    assert releases[0].split()[0] == polar_mcp.__version__, "add the release to CHANGELOG.md with the version"


@pytest.mark.anyio
async def test_manifest_tools_match_the_servers_tool_list() -> None:
    async with Client(server_from(start())) as client:
        tools = (await client.list_tools()).tools
    assert [tool["name"] for tool in MANIFEST["tools"]] == [tool.name for tool in tools]
    for declared, actual in zip(MANIFEST["tools"], tools, strict=True):
        assert actual.description is not None
        assert declared["description"] == actual.description.splitlines()[0]


def test_token_is_sensitive_user_config_passed_only_through_the_environment() -> None:
    config = MANIFEST["user_config"]
    assert config["polar_access_token"]["sensitive"] is True
    assert config["polar_access_token"]["required"] is False  # Demo mode needs none
    env = MANIFEST["server"]["mcp_config"]["env"]
    assert env == {
        "POLAR_ACCESS_TOKEN": "${user_config.polar_access_token}",
        "POLAR_SERVER": "${user_config.polar_server}",
        "POLAR_SERVER_URL": "${user_config.polar_server_url}",
        "POLAR_MCP_DEMO": "${user_config.demo_mode}",
    }
    assert not any("token" in arg for arg in MANIFEST["server"]["mcp_config"]["args"])


def test_manifest_passes_the_official_validator() -> None:
    done = subprocess.run(
        [node_tool("mcpb"), "validate", str(ROOT / "manifest.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "validation passes" in done.stdout


def build_bundle() -> tuple[Path, str]:
    env = {**os.environ, "MCPB": node_tool("mcpb")}
    done = subprocess.run(
        [str(ROOT / "scripts" / "build-bundle")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    path = ROOT / done.stdout.strip().splitlines()[-1]
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


# Run inside an unpacked bundle: every view is served from the bundle's own files, the SDK joined in.
SERVED_VIEWS = """
import polar_mcp
from polar_mcp.views import SDK_SLOT, VIEWS
print(polar_mcp.__file__)
for view in VIEWS:
    html = view.html()
    assert SDK_SLOT not in html and html.count("var polarMcpAppSdk=") == 1, view.name
    print(view.name, len(html.encode()))
"""
MAX_BUNDLE_BYTES = 560_000  # 530 kB: the App SDK once is 130 kB (once per view: 250 kB more), uv.lock 190 kB


def test_bundle_builds_reproducibly_with_only_what_it_needs(tmp_path: Path) -> None:
    first_path, first = build_bundle()
    _, second = build_bundle()
    assert first == second, "two builds of one commit must be byte-identical"
    assert first_path.stat().st_size <= MAX_BUNDLE_BYTES
    with zipfile.ZipFile(first_path) as bundle:
        names = set(bundle.namelist())
        bundle.extractall(tmp_path)
    assert {
        "manifest.json",
        "pyproject.toml",
        "uv.lock",
        "polar_mcp/__main__.py",
        "polar_mcp/server.py",
        "polar_mcp/views/app-sdk.js",
        "polar_mcp/views/customer-card.html",
        "polar_mcp/views/customers-table.html",
        "polar_mcp/views/query-chart.html",
    } <= names
    assert not any(name.startswith(("tests/", "bench/", ".venv", "node_modules")) for name in names)
    # The bundled package runs as it is: the demo answers through the bundle's own code.
    done = subprocess.run(
        [sys.executable, "-m", "polar_mcp", "call", "list_customers", '{"limit": 2}', "--demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("DEMO DATA")
    views = subprocess.run(
        [sys.executable, "-c", SERVED_VIEWS],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
    )
    assert views.returncode == 0, views.stderr
    package, *served = views.stdout.splitlines()
    assert Path(package).is_relative_to(tmp_path) and len(served) == 3


def test_bundle_installs_and_runs_the_way_claude_desktop_starts_it(tmp_path: Path) -> None:
    uv = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if uv is None:
        if os.environ.get("REQUIRE_NODE_TOOLS") == "1":
            pytest.fail("uv is not installed (pip install uv)")
        pytest.skip("uv is not installed")
    path, _ = build_bundle()
    with zipfile.ZipFile(path) as bundle:
        bundle.extractall(tmp_path)
    args = [arg.replace("${__dirname}", str(tmp_path)) for arg in MANIFEST["server"]["mcp_config"]["args"]]
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["UV_PROJECT_ENVIRONMENT"] = str(tmp_path / ".venv")
    done = subprocess.run(
        [uv, *args, "call", "list_customers", '{"query": "ada", "limit": 5}', "--demo"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Ada Lovelace" in done.stdout


def test_the_mcp_inspector_cli_gets_an_answer_from_demo_mode() -> None:
    command = [
        node_tool("mcp-inspector"),
        "--cli",
        sys.executable,
        "-m",
        "polar_mcp",
        "--demo",
        "--method",
        "tools/call",
        "--tool-name",
        "list_customers",
        "--tool-arg",
        "query=ada",
        "--tool-arg",
        "limit=5",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result.get("isError") is not True
    assert "Ada Lovelace" in result["content"][0]["text"]
    assert {c["name"] for c in result["structuredContent"]["customers"]} >= {"Ada Lovelace"}
