"""How a process starts: logging to stderr, and the settings plus transport (demo stand-in or network)."""

from __future__ import annotations

import logging
import sys

import httpx

from polar_mcp.config import Settings
from polar_mcp.errors import ConfigError

__all__ = ["LOG_LEVELS", "configure_logging", "load_settings"]

logger = logging.getLogger("polar_mcp")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def configure_logging(level: str) -> None:
    """Logs go to stderr: on stdio, stdout carries only protocol messages."""
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every URL at INFO, and the SDK "Terminating session" after every stateless HTTP
    # request; our own client logs what matters.
    quiet = max(logging.WARNING, logging.getLogger().level)
    for name in ("httpx", "mcp.server.streamable_http"):
        logging.getLogger(name).setLevel(quiet)


def load_settings(demo: bool) -> tuple[Settings, httpx.AsyncBaseTransport | None]:
    """Settings plus the transport to use: the stand-in in demo mode, the network otherwise."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        if not demo:
            raise
        logger.warning("ignoring a bad setting in demo mode: %s", exc)
        settings = Settings()
    if demo or settings.demo:
        from polar_mcp.demo import demo_settings, demo_transport

        return demo_settings(settings), demo_transport()
    return settings, None
