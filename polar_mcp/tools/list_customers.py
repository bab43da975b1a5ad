"""The `list_customers` tool: its arguments, its function, and the text the model reads."""

from __future__ import annotations

import math
from typing import Annotated, Any
from uuid import UUID

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import Field

from polar_mcp.errors import PolarMCPError
from polar_mcp.models import CustomerPage, summarize
from polar_mcp.query import MAX_LIMIT, CustomerQuery, MetadataFilter, ResponseFormat, SortKey
from polar_mcp.render import cell, compact, metadata_text
from polar_mcp.toolkit import Tool, ToolContext, read_only
from polar_mcp.views import CUSTOMERS_TABLE, tool_meta

__all__ = ["CONCISE_COLUMNS", "NAME", "TOOL", "render_page"]

NAME = "list_customers"
TITLE = "List Polar customers"

CONCISE_COLUMNS = ("name", "email", "external_id", "type", "country", "created_at", "id", "metadata")
# Rows carry no header: the tool description, which the model always has, names the columns.
# A header line would cost 6% of a 10-row page. Individuals, the common case, leave type blank.
TYPE_ABBREVIATIONS = {"individual": ""}
SEPARATOR = "\t"
CONCISE_LEGEND = (
    "Concise rows are tab-separated: name, email, external_id, type (blank = individual), country, "
    "created_at (UTC date), id, metadata (key=value,...); an empty cell means no value."
)
DESCRIPTION = f"""List and search the customers of the Polar organization, one page at a time.

Use query for a name, email or external ID (e.g. usr_42), email for an exact address, active=true for \
customers with a live subscription, metadata to match seller-defined fields, and sorting to order \
them (newest first by default). Results come in pages of `limit` (1-{MAX_LIMIT}, default 10); when \
more exist the result ends with the exact next call. Prefer limit=100 when reading many customers. \
response_format=detailed gives every field Polar returns (billing address, tax ID, ...) as JSON. \
{CONCISE_LEGEND}"""

ARGUMENT_HINTS: dict[str, str] = {
    "organization_id": "a UUID such as 1dbfc517-0bbf-4301-9ba8-555ca42b9737, or a list of UUIDs",
    "email": "a non-empty email address (exact match, case-insensitive)",
    "query": "a non-empty search text (matches name, email or external ID)",
    "active": "true or false",
    "metadata": (
        "an object mapping keys to a string, integer or boolean, or to a non-empty list of those "
        '(a list means OR), e.g. {"plan": ["pro", "team"]}; keys are non-empty without brackets, '
        "and nested objects are not allowed"
    ),
    "sorting": "a list of created_at, -created_at, email, -email, name, -name",
    "page": "an integer of at least 1",
    "limit": f"an integer from 1 to {MAX_LIMIT}",
    "response_format": "concise or detailed",
}
# Names assistants reach for that the tool does not have, and what to use instead.
ARGUMENT_ALIASES: dict[str, str] = {
    "external_id": "use query with the external ID (it matches external ID prefixes)",
    "name": "use query with the name",
    "search": "use query",
    "q": "use query",
    "per_page": "use limit",
    "page_size": "use limit",
    "size": "use limit",
    "offset": "use page (page N starts at item (N-1)*limit+1)",
    "sort": "use sorting",
    "order_by": "use sorting",
    "status": "use active=true for customers with an active, trialing or past-due subscription",
    "country": "no country filter exists; list customers and read the country column",
    "access_token": "the token is read from POLAR_ACCESS_TOKEN on the server, never passed as an argument",
    "token": "the token is read from POLAR_ACCESS_TOKEN on the server, never passed as an argument",
}


def register(server: MCPServer, context: ToolContext) -> None:
    """Add `list_customers` to `server`."""

    @server.tool(
        name=NAME,
        title=TITLE,
        description=DESCRIPTION,
        annotations=read_only(TITLE),
        meta=tool_meta(CUSTOMERS_TABLE),
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
        context.check_ready()
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
            api_page = await context.polar.list_customers(customer_query)
        except PolarMCPError as exc:
            raise ToolError(str(exc)) from exc
        total = api_page.pagination.total_count
        # Derive the last page ourselves if Polar ever omits or zeroes max_page while items exist.
        max_page = api_page.pagination.max_page or (math.ceil(total / limit) if total else 0)
        has_more = page < max_page
        items = api_page.items[:limit]  # never render more than was asked for, whatever Polar sent
        records = [summarize(item) for item in items] if response_format == "concise" else items
        result: dict[str, Any] = {
            "customers": records,
            "page": page,
            "limit": limit,
            "total_count": total,
            "max_page": max_page,
            "has_more": has_more,
            "next_page": page + 1 if has_more else None,
        }
        if context.notice:
            result["notice"] = context.notice
        text = render_page(result, response_format, customer_query.filters())
        return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=result)


TOOL = Tool(name=NAME, register=register, argument_hints=ARGUMENT_HINTS, argument_aliases=ARGUMENT_ALIASES)


def render_page(page: dict[str, Any], response_format: ResponseFormat, filters: dict[str, Any]) -> str:
    """Render a structured page (a `CustomerPage` as a dict) so the text alone carries all of it."""
    customers: list[dict[str, Any]] = page["customers"]
    lines = [_summary(page, len(customers))]
    if page.get("notice"):
        lines.insert(0, page["notice"])
    if filters:
        lines.append("Filters: " + compact(filters))
    if customers:
        if response_format == "concise":
            lines.extend(_row(customer) for customer in customers)
        else:
            lines.append("One JSON object per customer, every field Polar returned (null fields omitted):")
            lines.extend(compact({k: v for k, v in c.items() if v is not None}) for c in customers)
    if page["next_page"] is not None:
        lines.append(f"next: list_customers with page={page['next_page']} and the same filters")
    return "\n".join(lines)


def _summary(page: dict[str, Any], shown: int) -> str:
    total, number, last = page["total_count"], page["page"], page["max_page"]
    if total == 0:
        return "No customers match."
    if shown == 0:
        return f"No customers on page {number}: {total} match, on pages 1 to {last} of {page['limit']}."
    first = (number - 1) * page["limit"] + 1
    return f"Customers {first}-{first + shown - 1} of {total} (page {number} of {last})."


def _row(record: dict[str, Any]) -> str:
    cells = []
    for column in CONCISE_COLUMNS:
        value = record.get(column)
        if value is None:
            cells.append("")
        elif isinstance(value, dict):
            cells.append(metadata_text(value))
        elif column == "type":
            cells.append(TYPE_ABBREVIATIONS.get(value, cell(str(value))))
        else:
            cells.append(cell(str(value)))
    return SEPARATOR.join(cells).rstrip(SEPARATOR)
