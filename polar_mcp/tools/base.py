"""What every tool is: its record (name, words, view, handler, argument hints) and the context it runs in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from mcp_types import CallToolResult, ToolAnnotations

from polar_mcp.config import Settings
from polar_mcp.errors import ConfigError
from polar_mcp.polar.client import PolarClient
from polar_mcp.snapshots.store import SnapshotStore
from polar_mcp.views import View

__all__ = ["DEMO_NOTICE", "READ_ONLY", "Handler", "Tool", "ToolContext"]

DEMO_NOTICE = "DEMO DATA: a made-up sample organization, not your customers."

# The spec gives `idempotentHint` meaning only when `readOnlyHint` is false, so it is left out;
# `destructiveHint` and `openWorldHint` stay, as some hosts' app reviews ask for them by name. No title:
# the tool's own title says it once.
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=True)


@dataclass(frozen=True)
class ToolContext:
    """What a tool needs at call time: settings, the one shared Polar client, the snapshots, and the
    start-up problem that every call reports instead of running."""

    settings: Settings
    polar: PolarClient
    snapshots: SnapshotStore
    config_error: ConfigError | None = None
    today: Callable[[], date] = field(default=lambda: datetime.now(UTC).date())
    """The day it is, UTC: what default date ranges end with."""

    @property
    def notice(self) -> str | None:
        """The line every demo result starts with, so nobody mistakes sample data for their own."""
        return DEMO_NOTICE if self.settings.demo else None


Handler = Callable[..., Awaitable[CallToolResult]]
"""A tool's function: `ToolContext` first, then the typed arguments that make its input schema."""


@dataclass(frozen=True)
class Tool:
    """One tool as data; `build_server` registers every one of them the same way."""

    name: str
    title: str
    description: str
    handler: Handler
    view: View
    argument_hints: Mapping[str, str]
    """Every argument, and what it accepts in the words an error message uses."""
    argument_aliases: Mapping[str, str] = field(default_factory=dict)
    """Argument names assistants reach for that the tool does not have, and what to use instead."""
