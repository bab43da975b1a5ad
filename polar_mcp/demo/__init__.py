"""Demo mode: the sample organization served by the in-process Polar stand-in, no token, no network."""

from __future__ import annotations

import httpx

from polar_mcp.config import Settings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar
from polar_mcp.demo.organization import DEMO_CUSTOMERS, demo_customers

__all__ = ["DEMO_CUSTOMERS", "demo_settings", "demo_transport"]

DEMO_SERVER_URL = "https://demo.polar-mcp.invalid"  # never resolved: the mock transport answers


def demo_settings(base: Settings | None = None) -> Settings:
    """Settings that route every request to the stand-in; only the timeout is kept from `base`."""
    timeout = base.timeout if base is not None else Settings().timeout
    return Settings(access_token=DEFAULT_TOKEN, server_url=DEMO_SERVER_URL, timeout=timeout, demo=True)


def demo_transport() -> httpx.MockTransport:
    """The same client, tool and rendering code as production, with Polar replaced by the stand-in."""
    return httpx.MockTransport(FakePolar(demo_customers()))
