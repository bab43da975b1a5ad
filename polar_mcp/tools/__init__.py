"""The tools, one module each; `build_server` registers them in this order."""

from __future__ import annotations

from polar_mcp.tools import get_customer, get_metrics, list_customers, query_customers
from polar_mcp.tools.base import Tool

__all__ = ["TOOLS"]

TOOLS: tuple[Tool, ...] = (list_customers.TOOL, get_customer.TOOL, query_customers.TOOL, get_metrics.TOOL)
