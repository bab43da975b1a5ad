"""The fake Polar and the sample organization: the demo mode and the tests' double, one and the same.

`fake.py` (with `fake_read.py` and `fake_export.py`) serves Polar's customer API and export as Polar's
own code does, checked against Polar's OpenAPI excerpts, strict about parameters Polar does not define,
and able to fail the way Polar fails. `organization.py` and `billing.py` generate a deterministic sample
organization: its customers, products, subscriptions, benefits and meters.

Demo mode (`polar-mcp --demo`, `POLAR_MCP_DEMO=1`) serves that organization through the fake Polar
in-process: no token, no network, and the same client, tool and rendering code as production. The tests
and benchmarks use the fake Polar the same way, in-process or over HTTP on 127.0.0.1. Only the start-up
wiring (`polar_mcp.startup`) reaches this package.
"""

from __future__ import annotations

import httpx

from polar_mcp.config import Settings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar
from polar_mcp.demo.organization import DEMO_CUSTOMERS, demo_customers

__all__ = ["DEMO_CUSTOMERS", "demo_settings", "demo_transport"]

DEMO_SERVER_URL = "https://demo.polar-mcp.invalid"  # never resolved: the mock transport answers


def demo_settings(base: Settings | None = None) -> Settings:
    """Settings that route every request to the fake Polar; only the timeout is kept from `base`."""
    timeout = base.timeout if base is not None else Settings().timeout
    return Settings(access_token=DEFAULT_TOKEN, server_url=DEMO_SERVER_URL, timeout=timeout, demo=True)


def demo_transport() -> httpx.MockTransport:
    """The same client, tool and rendering code as production, with Polar replaced by the fake Polar."""
    return httpx.MockTransport(FakePolar(demo_customers()))
