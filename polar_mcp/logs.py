"""Logging at process start: every record to stderr (stdout may carry the protocol), floods held back."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable

__all__ = [
    "LOG_LEVELS",
    "BurstFilter",
    "ControlCharacterFilter",
    "LogLevelError",
    "configure_logging",
    "log_level_from_env",
]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Every C0 control but tab and newline, DEL and the C1 controls: what a terminal would act on.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
LOG_LEVEL_VARIABLE = "POLAR_MCP_LOG_LEVEL"


class LogLevelError(ValueError):
    """POLAR_MCP_LOG_LEVEL holds something other than a level name. The message is one line."""


def log_level_from_env(value: str | None) -> str | None:
    """The level named by POLAR_MCP_LOG_LEVEL's `value` (any case, spaces around ignored), or None
    when it is unset or empty.

    A wrong value raises LogLevelError with one line naming the valid levels. The value itself is
    quoted only when it could be a mistyped level name (a few letters): a variable set by mistake may
    hold a token, which must not reach a terminal or a log.
    """
    typed = (value or "").strip()
    if not typed or typed.upper() in LOG_LEVELS:
        return typed.upper() or None
    shown = f" (got {typed!r})" if typed.isascii() and typed.isalpha() and len(typed) <= 8 else ""
    raise LogLevelError(f"{LOG_LEVEL_VARIABLE} must be one of {', '.join(LOG_LEVELS)}{shown}")


class BurstFilter(logging.Filter):
    """Let through at most `burst` records of one kind (logger and message template) per `window`
    seconds, then one line saying how many were held back: a flood of refused or failed connections
    must not fill the disk."""

    def __init__(
        self, burst: int = 20, window: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.burst = burst
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        burst = self.burst * 10 if record.name == "uvicorn.access" else self.burst  # one line per request
        key = (record.name, str(record.msg))
        now = self.clock()
        started, count = self._seen.get(key, (now, 0))
        if now - started >= self.window:
            if count > burst:
                record.msg = f"{record.msg} [{count - burst} more like this in {self.window:g} s not logged]"
            started, count = now, 0
        count += 1
        if len(self._seen) > 1000:
            self._seen.clear()  # bounded memory whatever the variety of messages
        self._seen[key] = (started, count)
        return count <= burst


class ControlCharacterFilter(logging.Filter):
    """Escape control characters (as `\\x1b`) in the rendered message: a header value, a host name or
    any other text a client sent may reach a log line, and must not move a terminal's cursor or
    recolour what an operator reads. Tab and newline stay: HTTP heads cannot carry a newline, and
    the server's own multi-line messages keep their lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if CONTROL_CHARACTERS.search(message):
            record.msg = CONTROL_CHARACTERS.sub(lambda found: f"\\x{ord(found.group()):02x}", message)
            record.args = None
        return True


def configure_logging(level: str) -> None:
    """Logs go to stderr: on stdio, stdout carries only protocol messages. Repeated records are
    held back beyond a burst, so that no flood can fill the disk, and control characters are escaped."""
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, BurstFilter) for f in handler.filters):
            handler.addFilter(BurstFilter())
        if not any(isinstance(f, ControlCharacterFilter) for f in handler.filters):
            handler.addFilter(ControlCharacterFilter())  # after the burst filter, which groups by template
    # httpx logs every URL at INFO, and the SDK "Terminating session" after every stateless HTTP
    # request; our own client logs what matters.
    quiet = max(logging.WARNING, logging.getLogger().level)
    for name in ("httpx", "mcp.server.streamable_http"):
        logging.getLogger(name).setLevel(quiet)
