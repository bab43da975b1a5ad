"""The MCP server: `build_server` and its one tool, `list_customers`, with errors turned into tool errors."""

from __future__ import annotations

import logging
import math
from typing import Annotated, Any
from uuid import UUID

import httpx
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from polar_mcp import __version__
from polar_mcp.config import Settings
from polar_mcp.errors import ConfigError, PolarMCPError
from polar_mcp.models import CustomerPage, summarize
from polar_mcp.polar import PolarClient
from polar_mcp.query import (
    MAX_LIMIT,
    CustomerQuery,
    MetadataFilter,
    ResponseFormat,
    SortKey,
    describe_unknown_arguments,
    describe_validation_error,
)
from polar_mcp.render import CONCISE_LEGEND, render_page

__all__ = ["TOOL_NAME", "PolarMCPServer", "build_server"]

logger = logging.getLogger(__name__)

TOOL_NAME = "list_customers"
TOOL_DESCRIPTION = f"""List and search the customers of the Polar organization, one page at a time.

Use query for a name, email or external ID (e.g. usr_42), email for an exact address, active=true for \
customers with a live subscription, metadata to match seller-defined fields, and sorting to order \
them (newest first by default). Results come in pages of `limit` (1-{MAX_LIMIT}, default 10); when \
more exist the result ends with the exact next call. Prefer limit=100 when reading many customers. \
response_format=detailed gives every field Polar returns (billing address, tax ID, ...) as JSON. \
{CONCISE_LEGEND}"""

INSTRUCTIONS = (
    "polar-mcp answers questions about the customers of a Polar (polar.sh) organization through the "
    "read-only list_customers tool. Page through results with the next call it gives."
)


class PolarMCPServer(MCPServer):
    """MCPServer whose tool failures read as one actionable message, with no SDK prefix or stack."""

    polar: PolarClient
    """The shared Polar client; whoever runs the server closes it with `await server.polar.aclose()`."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        tool = self._tool_manager.get_tool(name)
        if tool is not None:
            unknown = sorted(set(arguments) - set(tool.parameters.get("properties", {})))
            if unknown:
                raise ToolError(describe_unknown_arguments(unknown))
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = _root_cause(exc)
            if isinstance(cause, ValidationError):
                raise ToolError(describe_validation_error(cause)) from cause
            if isinstance(cause, PolarMCPError):
                raise ToolError(str(cause)) from cause
            raise


def _root_cause(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def build_server(
    settings: Settings | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    client: PolarClient | None = None,
) -> PolarMCPServer:
    """Build the server. Tests pass a transport (a fake Polar); `None` settings reads the environment.

    A bad environment does not stop the server: it starts, lists its tool, and each call explains
    which variable to fix, because an MCP client shows a dead server far less clearly than a tool error.
    """
    config_error: ConfigError | None = None
    if settings is None:
        try:
            settings = Settings.from_env()
        except ConfigError as exc:
            config_error = exc
            settings = Settings()
    polar = client or PolarClient(settings, transport=transport)
    notice = "DEMO DATA: a made-up sample organization, not your customers." if settings.demo else None

    server = PolarMCPServer(
        name="polar-mcp",
        title="Polar customers",
        version=__version__,
        instructions=INSTRUCTIONS,
    )
    server.polar = polar

    @server.tool(
        name=TOOL_NAME,
        title="List Polar customers",
        description=TOOL_DESCRIPTION,
        annotations=ToolAnnotations(
            title="List Polar customers",
            read_only_hint=True,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=True,
        ),
    )
    async def list_customers(
        organization_id: Annotated[
            UUID | list[UUID] | None,
            Field(
                description="Only customers of this organization (UUID) or of any of these organizations. "
                "Usually omitted: an organization token sees only its own organization."
            ),
        ] = None,
        email: Annotated[
            str | None,
            Field(min_length=1, max_length=320, description="Exact email address, case-insensitive."),
        ] = None,
        query: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=500,
                description="Search text: part of the email, name or billing name, or the start of the "
                "external ID (use it to find a customer by external ID such as usr_42).",
            ),
        ] = None,
        active: Annotated[
            bool | None,
            Field(
                description="true: only customers with at least one active, trialing or past-due "
                "subscription; false: only those without."
            ),
        ] = None,
        metadata: Annotated[
            MetadataFilter | None,
            Field(
                description='Match seller-defined metadata, e.g. {"plan": "pro"}. A list of values means '
                'any of them ({"plan": ["pro", "team"]}); several keys must all match. '
                "Values compare as text."
            ),
        ] = None,
        sorting: Annotated[
            list[SortKey] | None,
            Field(
                description="Sort keys applied in order; a leading '-' sorts descending. "
                "Default: -created_at (newest first)."
            ),
        ] = None,
        page: Annotated[int, Field(ge=1, description="Page number, from 1.")] = 1,
        limit: Annotated[
            int, Field(ge=1, le=MAX_LIMIT, description=f"Customers per page, 1 to {MAX_LIMIT}.")
        ] = 10,
        response_format: Annotated[
            ResponseFormat,
            Field(
                description="concise: the key fields in compact rows (default). detailed: every field "
                "Polar returns, including billing address and tax ID."
            ),
        ] = "concise",
    ) -> Annotated[CallToolResult, CustomerPage]:
        """List and search Polar customers."""
        if config_error is not None:
            raise ToolError(str(config_error))
        if isinstance(organization_id, UUID):
            organization_id = [organization_id]
        customer_query = CustomerQuery(
            organization_ids=tuple(organization_id or ()),
            email=email,
            query=query,
            active=active,
            metadata=metadata or {},
            sorting=tuple(sorting or ()),
            page=page,
            limit=limit,
        )
        try:
            api_page = await polar.list_customers(customer_query)
        except PolarMCPError as exc:
            raise ToolError(str(exc)) from exc
        total = api_page.pagination.total_count
        # Derive the last page ourselves if Polar ever omits or zeroes max_page while items exist.
        max_page = api_page.pagination.max_page or (math.ceil(total / limit) if total else 0)
        has_more = page < max_page
        records = (
            [summarize(item) for item in api_page.items] if response_format == "concise" else api_page.items
        )
        result: dict[str, Any] = {
            "customers": records,
            "page": page,
            "limit": limit,
            "total_count": total,
            "max_page": max_page,
            "has_more": has_more,
            "next_page": page + 1 if has_more else None,
        }
        if notice:
            result["notice"] = notice
        text = render_page(result, response_format, customer_query.filters())
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=result)

    return server
