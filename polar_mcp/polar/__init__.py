"""The Polar API client: the endpoints the tools read, one request path with deadlines, retries and
bounded reads, the one map from a failure to an actionable error, and lenient models of the answers.

It knows nothing of MCP: the tools and the snapshots use it, never the other way round.
"""

from polar_mcp.polar.client import PolarClient
from polar_mcp.polar.query import CustomerQuery

__all__ = ["CustomerQuery", "PolarClient"]
