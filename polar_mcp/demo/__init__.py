"""The fake Polar and the sample organization: the demo mode and the tests' double, one and the same.

`fake.py` (with `fake_read.py`, `fake_export.py`, `fake_billing_export.py` and `fake_metrics.py`)
serves Polar's customer API, its customers, subscriptions and orders exports, and its metrics, as
Polar's own code does, checked against Polar's OpenAPI excerpts, strict about parameters Polar does not
define, and able to fail the way Polar fails. `organization.py` generates a deterministic sample
organization's customers; `catalogue.py` its products and discounts; `subscriptions.py` and `orders.py`
its subscriptions and orders, placed relative to the day the data describes (`periods.py`, prices and
fees in `money.py`); `ledger.py` puts them together (`sample_billing`, and large organizations for
benchmarks); `billing.py` is the customer state's view of them; `metrics.py` computes Polar's metrics.

Demo mode (`polar-mcp --demo`, `POLAR_MCP_DEMO=1`) serves that organization through the fake Polar
in-process: no token, no network, and the same client, tool and rendering code as production. The tests
and benchmarks use the fake Polar the same way, in-process or over HTTP on 127.0.0.1. Only the start-up
wiring (`polar_mcp.startup`) reaches this package.
"""

from __future__ import annotations

from datetime import datetime

import httpx

from polar_mcp.config import Settings
from polar_mcp.demo.fake import DEFAULT_TOKEN, FakePolar
from polar_mcp.demo.ledger import demo_billing
from polar_mcp.demo.organization import DEMO_CUSTOMERS, demo_customers

__all__ = ["DEMO_CUSTOMERS", "demo_billing", "demo_settings", "demo_transport"]

DEMO_SERVER_URL = "https://demo.polar-mcp.invalid"  # never resolved: the mock transport answers


def demo_settings(base: Settings | None = None) -> Settings:
    """Settings that route every request to the fake Polar; only the timeout is kept from `base`."""
    timeout = base.timeout if base is not None else Settings().timeout
    return Settings(access_token=DEFAULT_TOKEN, server_url=DEMO_SERVER_URL, timeout=timeout, demo=True)


def demo_transport(as_of: datetime | None = None) -> httpx.MockTransport:
    """The same client, tool and rendering code as production, with Polar replaced by the fake Polar:
    the sample organization with its billing on `as_of`'s date (today's when `None`)."""
    return httpx.MockTransport(FakePolar(demo_customers(), as_of=as_of))
