"""polar-mcp: an MCP server that lets an assistant list and search the customers of a Polar organization."""

__version__ = "0.1.0"

__all__ = ["__version__"]
