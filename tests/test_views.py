"""The views as the server serves them: declared by each tool, readable as ui:// resources, fresh, small."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from polar_mcp.server import PolarMCPServer
from polar_mcp.tools.get_customer import render_card
from polar_mcp.views import (
    CUSTOMER_CARD,
    CUSTOMERS_TABLE,
    QUERY_CHART,
    SDK_FILENAME,
    SDK_SLOT,
    VIEWS,
    View,
    join_sdk,
    sources_hash,
)
from tests.helpers import text_of

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "scripts" / "build-views"
SRC = ROOT / "views" / "src"
WORDS: dict[str, str] = json.loads((SRC / "shared" / "words.json").read_text())
MAX_BYTES = 700_000
MAX_OWN_BYTES = 50_000  # a built page without the SDK; all three are 10 to 17 kB
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
        assert (tools[name].meta or {})["ui"] == {"resourceUri": view.uri}
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
    assert (contents[0].meta or {}).get("ui") == {"prefersBorder": True}
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
async def test_a_host_on_the_handshake_revision_still_finds_every_view(server: PolarMCPServer) -> None:
    # Claude Desktop and VS Code connect with the 2025-11-25 handshake, where no extension is advertised
    # back: they render a view from the tool's `_meta.ui` and read it as a resource, both still here.
    async with Client(server, mode="legacy", extensions=[AppsClient()]) as host:
        assert host.protocol_version == "2025-11-25"
        tools = {tool.name: tool for tool in (await host.list_tools()).tools}
        for name, view in TOOL_VIEWS.items():
            assert (tools[name].meta or {})["ui"] == {"resourceUri": view.uri}
            (content,) = (await host.read_resource(view.uri)).contents
            assert content.mime_type == APP_MIME_TYPE and (content.meta or {})["ui"]["prefersBorder"] is True


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


def test_a_missing_app_sdk_fails_the_check(tmp_path: Path) -> None:
    for part in ("views/src", "polar_mcp/views", "scripts"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "package.json", tmp_path / "package.json")
    (tmp_path / "polar_mcp" / "views" / SDK_FILENAME).unlink()
    check = [sys.executable, str(BUILD), "--check", "--root", str(tmp_path)]
    result = subprocess.run(check, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"{SDK_FILENAME} is missing" in result.stderr


def test_every_view_records_the_hash_of_its_sources() -> None:
    hashes = {sources_hash(view.html()) for view in VIEWS}
    assert len(hashes) == 1 and None not in hashes
    header = r"/\* polar-mcp-view-sources: sha256:([0-9a-f]{64}) \*/\n"
    recorded = re.match(header, _package_file(SDK_FILENAME))
    assert recorded is not None and {recorded.group(1)} == hashes, "the SDK is built from the same sources"


def _package_file(name: str) -> str:
    return resources.files("polar_mcp.views").joinpath(name).read_text(encoding="utf-8")


def test_the_app_sdk_is_stored_once_and_joined_into_each_view_as_it_is_served() -> None:
    sdk = _package_file(SDK_FILENAME)
    _, prelude, script = sdk.split("\n", 2)
    assert prelude == "globalThis.__zod_globalConfig = { jitless: true };"  # no eval probe at load
    assert len(sdk.encode()) > 200_000 and script.startswith("var polarMcpAppSdk=")
    for view in VIEWS:
        page = _package_file(view.filename)
        assert len(page.encode()) <= MAX_OWN_BYTES, f"{view.filename} holds more than its own code"
        assert page.count(SDK_SLOT) == 1 and "var polarMcpAppSdk=" not in page
        served = view.html()
        assert served == join_sdk(page, sdk) and served.count(sdk.strip()) == 1
        assert SDK_SLOT not in served and len(served.encode()) <= MAX_BYTES
        # One script: the SDK first, then the view's code, which reads what the SDK set.
        script = served[served.index("<script>") : served.index("</script>")]
        assert script.index("var polarMcpAppSdk=") < script.index("=polarMcpAppSdk;")
        assert served is view.html(), "read and joined once per process"


def test_joining_refuses_a_page_without_its_slot_or_an_sdk_that_would_close_the_script() -> None:
    page = f"<script>\n{SDK_SLOT}\nview()\n</script>"
    assert join_sdk(page, "var sdk = 1;\n") == "<script>\nvar sdk = 1;\nview()\n</script>"
    with pytest.raises(ValueError, match="exactly once"):
        join_sdk("<script>view()</script>", "var sdk = 1;")
    with pytest.raises(ValueError, match="exactly once"):
        join_sdk(page + page, "var sdk = 1;")
    with pytest.raises(ValueError, match="closing script tag"):
        join_sdk(page, "var s = '</SCRIPT>';")


def test_every_view_is_the_one_template_with_its_own_title_style_and_script() -> None:
    listed = json.loads((SRC / "views.json").read_text())
    assert {name: entry["title"] for name, entry in listed.items()} == {v.name: v.title for v in VIEWS}
    assert sorted(p.relative_to(SRC).as_posix() for p in SRC.rglob("index.html")) == ["shared/index.html"]
    pages = set()
    for view in VIEWS:
        page = _package_file(view.filename)
        assert f"<title>{view.title}</title>" in page
        for tag in ("title", "style", "script"):
            page = re.sub(rf"<{tag}>.*?</{tag}>", f"<{tag}></{tag}>", page, flags=re.S)
        pages.add(page)
    assert len(pages) == 1


def test_the_card_and_the_dark_palette_are_written_once() -> None:
    assert not (SRC / "customer-card" / "card.js").exists() and (SRC / "shared" / "card.js").exists()
    styles = {p.relative_to(SRC).as_posix(): p.read_text() for p in SRC.rglob("*.css")}
    colour = re.compile(r"#[0-9a-fA-F]{3,8}\b")
    assert [name for name, text in styles.items() if colour.search(text)] == ["shared/base.css"]
    assert [name for name, text in styles.items() if "dark" in text] == ["shared/base.css"]
    base = styles["shared/base.css"]
    # Every colour is one custom property's, declared once; the dark triggers only switch --dark on.
    declared = Counter(re.findall(r"(--[\w-]+)\s*:[^;]*#[0-9a-fA-F]{3,8}\b", base))
    assert len(declared) == len(colour.findall(base)) >= 20 and set(declared.values()) == {1}
    triggers = re.findall(r'(?:\[data-theme="dark"\]|:root:not\(\[data-theme\]\))\s*\{([^}]*)\}', base)
    assert len(triggers) == 2 and all(not colour.search(body) and "--dark: ;" in body for body in triggers)
    for name in ("customer-card", "customers-table"):
        assert '@import "../shared/card.css";' in styles[f"{name}/style.css"]


NUMBERS_450 = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 450) SELECT n FROM r"


@pytest.mark.anyio
async def test_the_views_word_what_they_share_with_the_text_as_the_text_does(server: PolarMCPServer) -> None:
    """Each phrase of views/src/shared/words.json, filled in, is what the tool's text says there."""

    async def text(tool: str, arguments: dict[str, Any]) -> str:
        result = await client.call_tool(tool, arguments)
        return result.content[0].text  # type: ignore[union-attr]

    async with Client(server) as client:
        nobody = await text("list_customers", {"query": "nobody-by-this-name"})
        second = await text("list_customers", {"limit": 10, "page": 2})
        past = await text("list_customers", {"limit": 10, "page": 40})
        no_rows = await text("query_customers", {"sql": "SELECT id FROM customers WHERE country = 'ZZ'"})
        first_rows = await text("query_customers", {"sql": NUMBERS_450})
    total = 123  # the server fixture's customers
    empty_card = render_card(
        {"customer": {"id": "c1"}, "subscriptions": [], "benefits": [], "meters": [], "notes": []}
    )
    subscriptions: dict[str, dict[str, Any]] = {
        "renews": {"status": "active", "current_period_end": "2026-12-01"},
        "canceled": {"status": "active", "cancel_at_period_end": True, "current_period_end": "2026-12-01"},
        "ends": {"status": "active", "ends_at": "2026-12-01"},
        "trialThenRenews": {"status": "trialing", "trial_end": "2026-12-01"},
        "trialThenEnds": {"status": "trialing", "trial_end": "2026-12-01", "ends_at": "2026-12-01"},
    }
    card = render_card(
        {
            "customer": {"id": "c1", "name": "Ada"},
            "subscriptions": [{"product_id": f"p-{key}", **sub} for key, sub in subscriptions.items()],
            "benefits": [],
            "meters": [],
            "notes": [],
        }
    )
    line = {key: next(ln for ln in card.splitlines() if f"p-{key}:" in ln) for key in subscriptions}
    empty_lists = {"noSubscriptions": "Subscriptions", "noBenefits": "Benefits", "noMeters": "Meters"}
    said: dict[str, tuple[dict[str, Any], str]] = {
        "noCustomers": ({}, nobody.splitlines()[0]),
        "pageOfCustomers": (
            {"first": 11, "end": 20, "total": total, "page": 2, "pages": 13},
            second.splitlines()[0],
        ),
        "pastTheLastPage": ({"page": 40, "total": total, "pages": 13, "limit": 10}, past.splitlines()[0]),
        "noName": ({}, empty_card.splitlines()[0]),
        "product": ({"id": "p-renews"}, line["renews"]),
        "priceUnknown": ({}, line["renews"]),
        **{key: ({"date": "2026-12-01"}, line[key]) for key in subscriptions},
        **{key: ({}, f"{label}: {WORDS[key]}.") for key, label in empty_lists.items()},
        "noRows": ({}, no_rows.splitlines()[-1]),
        "firstRows": ({"shown": 200, "total": 450}, first_rows.splitlines()[-1]),
    }
    assert set(said) == set(WORDS), "every shared phrase is checked against the text"
    for key, (values, where) in said.items():
        assert WORDS[key].format(**values) in where, key
    # The card's empty lists: the text's own lines, which the view shows under each heading.
    assert {f"{label}: {WORDS[key]}." for key, label in empty_lists.items()} <= set(empty_card.splitlines())
    assert nobody.splitlines()[0] == WORDS["noCustomers"] and no_rows.splitlines()[-1] == WORDS["noRows"]


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
