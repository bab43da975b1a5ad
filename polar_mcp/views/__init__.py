"""The interactive views (MCP Apps): which tool shows which built HTML, served as `ui://` resources.

Each view is built from `views/src/` by `scripts/build-views` into a page beside this module that holds
only the view's own code (10 to 17 kB), and the App SDK they all use is built once beside them, as
`app-sdk.js` (about 530 kB). Reading a view joins the SDK into the page's one script, once per process,
so a host gets one self-contained page that loads nothing. A tool names its view in
`_meta.ui.resourceUri` through `tool_meta`; `apps_extension` serves every view. Hosts without MCP Apps
ignore both, and the text the model reads is the same either way.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from mcp.server.apps import Apps

__all__ = [
    "CUSTOMERS_TABLE",
    "CUSTOMER_CARD",
    "QUERY_CHART",
    "VIEWS",
    "View",
    "apps_extension",
    "join_sdk",
    "sources_hash",
    "tool_meta",
]

SOURCES_META = re.compile(r'<meta name="polar-mcp-view-sources" content="sha256:([0-9a-f]{64})">')
SDK_FILENAME = "app-sdk.js"
# Where a built page's script takes the SDK; scripts/build-views writes the same comment.
SDK_SLOT = "/* polar-mcp: app-sdk.js */"


@dataclass(frozen=True)
class View:
    """One built view: its file in this package, its `ui://` address, and the words a host shows."""

    name: str
    title: str
    description: str

    @property
    def uri(self) -> str:
        return f"ui://polar-mcp/{self.name}.html"

    @property
    def filename(self) -> str:
        return f"{self.name}.html"

    def html(self) -> str:
        """The page a host gets: the built page with the App SDK joined in (read and joined once)."""
        return _served(self.filename)


CUSTOMERS_TABLE = View(
    "customers-table",
    "Customers",
    "A page of customers as a table: sort by a column, page through, search, open a customer.",
)
CUSTOMER_CARD = View(
    "customer-card",
    "Customer",
    "One customer as a card: who they are, subscriptions, benefits and meters.",
)
QUERY_CHART = View(
    "query-chart",
    "Customer query",
    "A query answer as a bar chart when it has one label and one number column, with the table under it.",
)
VIEWS: tuple[View, ...] = (CUSTOMERS_TABLE, CUSTOMER_CARD, QUERY_CHART)


def tool_meta(view: View) -> dict[str, Any]:
    """The tool `_meta` that asks a host with MCP Apps to render `view` with the tool's result."""
    return {"ui": {"resourceUri": view.uri}}


def apps_extension(views: tuple[View, ...] = VIEWS) -> Apps:
    """The MCP Apps extension serving `views`; `build_server` passes it to the server."""
    apps = Apps()
    for view in views:
        # No CSP domains: the views load nothing and connect nowhere, so the host's strictest default fits.
        # A border: each view is a panel of data set in the conversation, not a picture that fills it.
        apps.add_html_resource(
            view.uri,
            view.html(),
            name=view.name,
            title=view.title,
            description=view.description,
            prefers_border=True,
        )
    return apps


def sources_hash(html: str) -> str | None:
    """The hash of the sources a built view records, or None when it records none."""
    match = SOURCES_META.search(html)
    return match.group(1) if match else None


def join_sdk(page: str, sdk: str) -> str:
    """`page` with `sdk` in its script's slot, so the view's code runs after it in one script scope."""
    if page.count(SDK_SLOT) != 1:
        raise ValueError(f"a built view must hold {SDK_SLOT} exactly once")
    if re.search(r"</script", sdk, re.IGNORECASE):
        raise ValueError("the App SDK contains a closing script tag and cannot be inlined")
    return page.replace(SDK_SLOT, sdk.strip())


@functools.cache
def _served(filename: str) -> str:
    return join_sdk(_read(filename), _read(SDK_FILENAME))


@functools.cache
def _read(filename: str) -> str:
    return resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
