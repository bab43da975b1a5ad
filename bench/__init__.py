"""Benchmarks for polar-mcp: context cost, latency, cold start, paging, memory, and Polar's own MCP server."""
