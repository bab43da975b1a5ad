"""How a process starts: the settings, the transport (the demo's fake Polar or the network) and the
configuration problem, decided once for stdio, HTTP and the ASGI factory alike."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from polar_mcp.config import Settings
from polar_mcp.errors import ConfigError
from polar_mcp.server import PolarMCPServer, build_server

__all__ = ["Startup", "server_from", "start"]

logger = logging.getLogger("polar_mcp")


@dataclass(frozen=True)
class Startup:
    """What a process runs with. A `config_error` does not stop a server: it starts, lists its tools,
    and every call explains which variable to fix (a one-shot command prints it and exits instead)."""

    settings: Settings
    transport: httpx.AsyncBaseTransport | None = None
    config_error: ConfigError | None = None


def start(demo: bool = False, environ: Mapping[str, str] | None = None) -> Startup:
    """Read the environment; `demo` (or `POLAR_MCP_DEMO`) serves the sample organization instead, where
    a bad setting is only logged, since nothing in it is needed."""
    try:
        settings = Settings.from_env(environ)
    except ConfigError as exc:
        if not demo:
            return Startup(Settings(), config_error=exc)
        logger.warning("ignoring a bad setting in demo mode: %s", exc)
        settings = Settings()
    if demo or settings.demo:
        from polar_mcp.demo import demo_settings, demo_transport

        return Startup(demo_settings(settings), demo_transport())
    return Startup(settings)


def server_from(started: Startup) -> PolarMCPServer:
    """The server a process runs: its settings and transport, and the start-up problem it explains."""
    return build_server(started.settings, transport=started.transport, config_error=started.config_error)
