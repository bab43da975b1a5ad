"""The views as the server serves them: declared by each tool, readable as ui:// resources, fresh, small."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from polar_mcp.server import PolarMCPServer
from polar_mcp.views import CUSTOMER_CARD, CUSTOMERS_TABLE, QUERY_CHART, VIEWS, View, sources_hash
from tests.helpers import text_of

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "scripts" / "build-views"
MAX_BYTES = 700_000
TOOL_VIEWS = {
    "list_customers": CUSTOMERS_TABLE,
    "get_customer": CUSTOMER_CARD,
    "query_customers": QUERY_CHART,
}


class AppsClient(ClientExtension):
    """What a host with MCP Apps advertises."""

    identifier = EXTENSION_ID

    def settings(self) -> dict[str, Any]:
        return {"mimeTypes": [APP_MIME_TYPE]}


@pytest.mark.anyio
async def test_each_tool_declares_its_view_and_the_server_advertises_apps(server: PolarMCPServer) -> None:
    async with Client(server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        capabilities = client.server_capabilities
    for name, view in TOOL_VIEWS.items():
        assert tools[name].meta == {"ui": {"resourceUri": view.uri}}
    assert capabilities is not None and capabilities.extensions is not None
    assert EXTENSION_ID in capabilities.extensions


@pytest.mark.anyio
@pytest.mark.parametrize("view", VIEWS, ids=lambda view: view.name)
async def test_each_view_reads_as_a_self_contained_html5_app(server: PolarMCPServer, view: View) -> None:
    async with Client(server) as client:
        listed = {str(r.uri): r for r in (await client.list_resources()).resources}
        contents = (await client.read_resource(view.uri)).contents
    assert listed[view.uri].mime_type == APP_MIME_TYPE
    assert len(contents) == 1 and contents[0].mime_type == APP_MIME_TYPE
    html = contents[0].text  # type: ignore[union-attr]
    assert html == view.html()
    assert len(html.encode()) <= MAX_BYTES
    document = _Document()
    document.feed(html)
    document.close()
    assert document.doctype == "html"
    assert document.first_tags[:3] == ["html", "head", "meta"]
    assert document.external == [], "a view must load nothing: no src or href outside the document"
    assert document.inline_scripts == 1 and document.styles == 1


@pytest.mark.anyio
async def test_the_text_the_model_reads_is_the_same_for_hosts_with_and_without_apps(
    server: PolarMCPServer,
) -> None:
    arguments = {"limit": 5, "sorting": ["name"]}
    async with Client(server) as plain:
        without = await plain.call_tool("list_customers", arguments)
    async with Client(server, extensions=[AppsClient()]) as apps:
        with_apps = await apps.call_tool("list_customers", arguments)
    assert with_apps.content == without.content
    assert with_apps.structured_content == without.structured_content
    assert text_of(without).splitlines()[0].startswith("Customers 1-5 of")


def test_built_views_are_fresh_against_their_sources() -> None:
    result = subprocess.run(
        [sys.executable, str(BUILD), "--check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_a_changed_source_makes_the_built_view_stale(tmp_path: Path) -> None:
    for part in ("views/src", "polar_mcp/views", "scripts"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "package.json", tmp_path / "package.json")
    check = [sys.executable, str(BUILD), "--check", "--root", str(tmp_path)]
    assert subprocess.run(check, capture_output=True, timeout=60).returncode == 0
    style = tmp_path / "views" / "src" / "customers-table" / "style.css"
    style.write_text(style.read_text() + "\n/* changed */\n")
    result = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "customers-table.html is stale" in result.stderr


def test_every_view_records_the_hash_of_its_sources() -> None:
    hashes = {sources_hash(view.html()) for view in VIEWS}
    assert len(hashes) == 1 and None not in hashes


def test_view_helpers_pass_their_node_tests() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("REQUIRE_NODE_TOOLS") == "1":
            pytest.fail("node is required (REQUIRE_NODE_TOOLS=1)")
        pytest.skip("node is not installed")
    result = subprocess.run(
        [node, "--test", "views/test/"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


class _Document(HTMLParser):
    """Records what the checks need: doctype, the first tags, inline scripts and styles, outside links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.doctype = ""
        self.first_tags: list[str] = []
        self.external: list[str] = []
        self.inline_scripts = 0
        self.styles = 0

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl.lower().removeprefix("doctype ").strip()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.first_tags.append(tag)
        values = dict(attrs)
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            value = values.get(name)
            if value is not None and not value.startswith(("#", "data:")):
                self.external.append(f"<{tag} {name}={value!r}>")
        if tag == "link":
            self.external.append(f"<link {values}>")
        if tag == "script":
            self.inline_scripts += 1
        if tag == "style":
            self.styles += 1


@pytest.mark.parametrize("view", VIEWS, ids=lambda view: view.name)
def test_the_readme_shows_each_view_in_light_and_dark(view: View) -> None:
    readme = (ROOT / "README.md").read_text()
    for theme in ("light", "dark"):
        path = f"docs/screenshots/{view.name}-{theme}.png"
        assert f"]({path})" in readme, f"README.md does not show {path}"
        assert (ROOT / path).read_bytes().startswith(b"\x89PNG")
