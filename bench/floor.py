"""The floor of a call's time: an MCP server on the same SDK that returns a stored result and does no work.

`python -m bench.floor RESULT.json` serves one tool, `list_customers`, over stdio, declaring the same
output model as polar-mcp's; every call returns the stored `CallToolResult` (text and structuredContent)
as it is. A call to it costs what the SDK, the client and stdio cost for that result, and nothing else:
polar-mcp's time beyond this floor and a direct HTTP call to Polar is our own.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

from mcp import StdioServerParameters
from mcp.server.mcpserver import MCPServer
from mcp_types import CallToolResult

from bench.fixture import REPO_ROOT
from polar_mcp.tools.list_customers import CustomerPage

__all__ = ["floor_server", "main"]


def floor_server(result_path: Path) -> StdioServerParameters:
    """How to start the floor over stdio with the result stored at `result_path`."""
    return StdioServerParameters(
        command=sys.executable, args=["-m", "bench.floor", str(result_path)], cwd=REPO_ROOT
    )


def main(argv: list[str] | None = None) -> None:
    (path,) = argv if argv is not None else sys.argv[1:]
    stored = CallToolResult.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
    server = MCPServer(name="floor")

    @server.tool(name="list_customers")
    async def list_customers(limit: int = 10, page: int = 1) -> Annotated[CallToolResult, CustomerPage]:
        """Return the stored result."""
        return stored

    server.run("stdio")


if __name__ == "__main__":
    main()
