"""Settings read from the environment, and nowhere else: the token never travels as an argument."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from polar_mcp.errors import ConfigError
from polar_mcp.sanitize import mentions

Environment = Literal["production", "sandbox"]

SERVER_URLS: dict[Environment, str] = {
    "production": "https://api.polar.sh",
    "sandbox": "https://sandbox-api.polar.sh",
}
DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 300.0
# Polar's tokens start polar_oat_, polar_pat_, ...: a value of that shape is never echoed, anywhere.
_SECRET_SHAPE = re.compile(r"polar_[a-z]+_|bearer\s", re.IGNORECASE)
DEFAULT_SNAPSHOT_TTL = 300.0
MAX_SNAPSHOT_TTL = 86_400.0
DEFAULT_SNAPSHOT_MAX = 250_000
MAX_SNAPSHOT_MAX = 10_000_000
DEFAULT_SNAPSHOT_MAX_MB = 100
"""Megabytes of export all snapshots hold together: about three times that in memory."""
MAX_SNAPSHOT_MAX_MB = 10_000
TOKEN_HELP = (
    "Create an Organization Access Token with the customers:read scope in the Polar dashboard "
    "(your organization's Settings) and set it as POLAR_ACCESS_TOKEN in the MCP server's environment."
)


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to reach Polar; built by `from_env` in production code."""

    # repr=False keeps the token out of any log line or traceback that prints the settings.
    access_token: str | None = field(default=None, repr=False)
    environment: Environment = "production"
    server_url: str = SERVER_URLS["production"]
    api_version: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    demo: bool = False
    snapshot_ttl: float = DEFAULT_SNAPSHOT_TTL
    """Seconds a snapshot of every customer (for query_customers) stays in use before a new export."""
    snapshot_max: int = DEFAULT_SNAPSHOT_MAX
    """Most customers a snapshot may hold; a larger export is refused rather than exhausting memory."""
    snapshot_max_mb: int = DEFAULT_SNAPSHOT_MAX_MB
    """Megabytes of export every snapshot together may hold; the least recently used make room, and
    an export larger than all of it is refused."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read `POLAR_*` variables; raise `ConfigError` naming the variable that is wrong, never echoing
        a value that may be a secret."""
        env = os.environ if environ is None else environ
        token = _token(env.get("POLAR_ACCESS_TOKEN", ""))
        for name in ("POLAR_SERVER", "POLAR_SERVER_URL", "POLAR_TIMEOUT", "POLAR_API_VERSION"):
            _refuse_secret(name, env.get(name, ""), token)
        raw_name = env.get("POLAR_SERVER", "")
        name = raw_name.strip().lower() or "production"
        if name not in ("production", "sandbox"):
            raise ConfigError(
                f"POLAR_SERVER must be 'production' or 'sandbox', not {_shown(raw_name)}. "
                "Use POLAR_SERVER_URL for any other base URL."
            )
        environment: Environment = "sandbox" if name == "sandbox" else "production"
        server_url = _server_url(env.get("POLAR_SERVER_URL", ""))
        api_version = env.get("POLAR_API_VERSION", "").strip() or None
        if api_version is not None and not _header_safe(api_version):
            raise ConfigError("POLAR_API_VERSION must be a version such as 2026-10, on one line.")
        return cls(
            access_token=token,
            environment=environment,
            server_url=server_url or SERVER_URLS[environment],
            api_version=api_version,
            timeout=_parse_timeout(env.get("POLAR_TIMEOUT", "")),
            demo=env.get("POLAR_MCP_DEMO", "").strip().lower() in {"1", "true", "yes", "on"},
            snapshot_ttl=_parse_snapshot_ttl(env.get("POLAR_MCP_SNAPSHOT_TTL", "")),
            snapshot_max=_parse_snapshot_max(env.get("POLAR_MCP_SNAPSHOT_MAX", "")),
            snapshot_max_mb=_parse_snapshot_max_mb(env.get("POLAR_MCP_SNAPSHOT_MAX_MB", "")),
        )

    @property
    def environment_label(self) -> str:
        """How errors name the place the token was sent, e.g. `Polar sandbox (https://...)`."""
        if self.demo:
            return "the demo organization"
        if self.server_url == SERVER_URLS[self.environment]:
            return f"Polar {self.environment} ({self.server_url})"
        return f"the Polar API at {self.server_url}"


def _header_safe(value: str) -> bool:
    return value.isascii() and value.isprintable() and " " not in value


def _token(raw: str) -> str | None:
    token = raw.strip() or None
    if token is not None and not _header_safe(token):
        # Never echoed: it is the secret itself.
        raise ConfigError(
            "POLAR_ACCESS_TOKEN contains a line break, space or other character no token has. "
            "Paste the token again as one line, then restart the MCP server."
        )
    return token


def _refuse_secret(name: str, raw: str, token: str | None) -> None:
    if _SECRET_SHAPE.search(raw) or (token is not None and len(token) >= 8 and mentions(raw, token)):
        raise ConfigError(
            f"{name} holds what looks like an access token, which belongs in POLAR_ACCESS_TOKEN only "
            f"(the value is not shown). Fix {name}, then restart the MCP server."
        )


def _shown(raw: str) -> str:
    """How an error may quote a bad setting: only a short value; a long one could be a secret."""
    value = raw.strip()
    if len(value) <= 20 and _header_safe(value):
        return repr(value)
    return "the value given (not shown)"


def _server_url(raw: str) -> str:
    """The validated base URL, or "" when unset; errors say what is wrong without echoing the URL."""
    url = raw.strip().rstrip("/")
    if not url:
        return ""
    rule = "POLAR_SERVER_URL must be a base URL such as https://api.polar.sh or http://127.0.0.1:8123, "
    if not _header_safe(url):
        raise ConfigError(rule + "on one line, without spaces or control characters.")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(rule + "starting with http:// or https://.")
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise ConfigError(
            rule + "without user:password@: Polar takes only the bearer token in POLAR_ACCESS_TOKEN."
        )
    if not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(rule + "with a host name and no ?query or #fragment.")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigError(rule + "with a numeric port.") from None
    return url


def _parse_timeout(raw: str) -> float:
    if not raw.strip():
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"POLAR_TIMEOUT must be a number of seconds, got {_shown(raw)}.") from None
    if not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT:
        raise ConfigError(
            f"POLAR_TIMEOUT must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, "
            f"got {_shown(raw)}."
        )
    return value


def _parse_snapshot_ttl(raw: str) -> float:
    if not raw.strip():
        return DEFAULT_SNAPSHOT_TTL
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"POLAR_MCP_SNAPSHOT_TTL must be a number of seconds, got {_shown(raw)}.") from None
    if not math.isfinite(value) or not 0 <= value <= MAX_SNAPSHOT_TTL:
        raise ConfigError(
            f"POLAR_MCP_SNAPSHOT_TTL must be a number of seconds from 0 to {MAX_SNAPSHOT_TTL:g}, "
            f"got {_shown(raw)}."
        )
    return value


def _parse_snapshot_max(raw: str) -> int:
    if not raw.strip():
        return DEFAULT_SNAPSHOT_MAX
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"POLAR_MCP_SNAPSHOT_MAX must be a whole number of customers, got {_shown(raw)}."
        ) from None
    if not 1 <= value <= MAX_SNAPSHOT_MAX:
        raise ConfigError(
            f"POLAR_MCP_SNAPSHOT_MAX must be a number of customers from 1 to {MAX_SNAPSHOT_MAX:,}, "
            f"got {_shown(raw)}."
        )
    return value


def _parse_snapshot_max_mb(raw: str) -> int:
    if not raw.strip():
        return DEFAULT_SNAPSHOT_MAX_MB
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"POLAR_MCP_SNAPSHOT_MAX_MB must be a whole number of megabytes, got {_shown(raw)}."
        ) from None
    if not 1 <= value <= MAX_SNAPSHOT_MAX_MB:
        raise ConfigError(
            f"POLAR_MCP_SNAPSHOT_MAX_MB must be a number of megabytes from 1 to {MAX_SNAPSHOT_MAX_MB:,}, "
            f"got {_shown(raw)}."
        )
    return value
