"""Settings read from the environment, and nowhere else: the token never travels as an argument."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from polar_mcp.errors import ConfigError

Environment = Literal["production", "sandbox"]

SERVER_URLS: dict[Environment, str] = {
    "production": "https://api.polar.sh",
    "sandbox": "https://sandbox-api.polar.sh",
}
DEFAULT_TIMEOUT = 30.0
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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read `POLAR_*` variables; raise `ConfigError` naming the variable that is wrong."""
        env = os.environ if environ is None else environ
        name = env.get("POLAR_SERVER", "").strip().lower() or "production"
        if name not in ("production", "sandbox"):
            raise ConfigError(
                f"POLAR_SERVER must be 'production' or 'sandbox', not {name!r}. "
                "Use POLAR_SERVER_URL for any other base URL."
            )
        environment: Environment = "sandbox" if name == "sandbox" else "production"
        server_url = env.get("POLAR_SERVER_URL", "").strip().rstrip("/")
        if server_url and not server_url.startswith(("http://", "https://")):
            raise ConfigError(f"POLAR_SERVER_URL must start with http:// or https://, got {server_url!r}.")
        return cls(
            access_token=env.get("POLAR_ACCESS_TOKEN", "").strip() or None,
            environment=environment,
            server_url=server_url or SERVER_URLS[environment],
            api_version=env.get("POLAR_API_VERSION", "").strip() or None,
            timeout=_parse_timeout(env.get("POLAR_TIMEOUT", "")),
            demo=env.get("POLAR_MCP_DEMO", "").strip().lower() in {"1", "true", "yes", "on"},
        )

    @property
    def environment_label(self) -> str:
        """How errors name the place the token was sent, e.g. `Polar sandbox (https://...)`."""
        if self.demo:
            return "the demo organization"
        if self.server_url == SERVER_URLS[self.environment]:
            return f"Polar {self.environment} ({self.server_url})"
        return f"the Polar API at {self.server_url}"


def _parse_timeout(raw: str) -> float:
    if not raw.strip():
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"POLAR_TIMEOUT must be a number of seconds, got {raw!r}.") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"POLAR_TIMEOUT must be a positive number of seconds, got {raw!r}.")
    return value
