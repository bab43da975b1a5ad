"""The `list_customers` tool: its arguments, its function, and the text the model reads."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, InstanceOf

from polar_mcp.polar.models import summarize
from polar_mcp.polar.query import (
    MAX_LIMIT,
    MAX_METADATA_KEYS,
    MAX_METADATA_TEXT,
    MAX_METADATA_VALUES,
    MAX_ORGANIZATIONS,
    MAX_PAGE,
    MAX_SORT_KEYS,
    CustomerQuery,
    MetadataKey,
    MetadataScalar,
    ResponseFormat,
    SortKey,
)
from polar_mcp.tools.base import Tool, ToolContext
from polar_mcp.tools.render import cell, compact, metadata_text, without_nulls
from polar_mcp.tools.schema import sample_notice
from polar_mcp.views import CUSTOMERS_TABLE

__all__ = ["CONCISE_COLUMNS", "NAME", "TOOL", "CustomerPage", "list_customers", "render_page"]

NAME = "list_customers"
TITLE = "List Polar customers"

ConciseField = Literal["name", "email", "external_id", "type", "country", "created_at", "metadata", "id"]
CONCISE_COLUMNS: tuple[ConciseField, ...] = get_args(ConciseField)
DEFAULT_FIELDS: tuple[ConciseField, ...] = CONCISE_COLUMNS[:-1]
# A UUID costs about 22 tokens, 40% of a row: rows leave it out when the email or external ID already
# identifies the customer (get_customer takes either); structuredContent keeps every id.
IDENTIFIERS: tuple[ConciseField, ...] = ("email", "external_id")
# Default rows carry no header: the description, which the model always has, names the columns.
# Individuals, the common case, leave type blank.
TYPE_ABBREVIATIONS = {"individual": ""}
SEPARATOR = "\t"
# A space next to another, or at either end of a cell, is what `cell` would remove.
_UNTIDY_PAIRS = ("  ", " \t", "\t ", " \n", "\n ")
DESCRIPTION = """List and search the organization's customers, a page at a time.

Use limit=100 to read many; a partial page ends with the next call. Rows: tab-separated values of \
fields, by default all but id, which ends a row only when email and external_id are empty. type blank \
= individual; created_at: UTC date; metadata: k=v,..."""

ARGUMENT_HINTS: dict[str, str] = {
    "organization_id": (
        f"a UUID such as 1dbfc517-0bbf-4301-9ba8-555ca42b9737, or a list of up to {MAX_ORGANIZATIONS} UUIDs"
    ),
    "email": "a non-empty email address (exact match, case-insensitive)",
    "query": "a non-empty search text (matches name, email or external ID)",
    "active": "true or false",
    "metadata": (
        f'a list of up to {MAX_METADATA_KEYS} conditions {{"key": ..., "value": [...]}}, each key once, '
        f"non-empty and without brackets; a value is a list of 1 to {MAX_METADATA_VALUES} strings (up to "
        f"{MAX_METADATA_TEXT} characters), integers or booleans, any of which matches, e.g. "
        '[{"key": "plan", "value": ["pro", "team"]}]; nested objects are not allowed'
    ),
    "sorting": f"a list of up to {MAX_SORT_KEYS} of created_at, -created_at, email, -email, name, -name",
    "page": f"an integer from 1 to {MAX_PAGE}",
    "limit": f"an integer from 1 to {MAX_LIMIT}",
    "response_format": "concise or detailed",
    "fields": f"a non-empty list of {', '.join(CONCISE_COLUMNS)}",
}
# Names assistants reach for that the tool does not have, and what to use instead.
ARGUMENT_ALIASES: dict[str, str] = {
    "external_id": (
        "use query with the external ID (it matches external ID prefixes), or get_customer with "
        "external_id for one customer's subscriptions"
    ),
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
}


def _undescribed(schema: dict[str, Any]) -> None:
    """Leave the docstring out of the schema: the tool's description already says what a page is."""
    schema.pop("description", None)


def _listed(value: Any) -> Any:
    """One value, as earlier releases accepted, read as the one-item list it means."""
    return value if isinstance(value, list) else [value]


def _closed_unpublished(schema: dict[str, Any]) -> None:
    _undescribed(schema)
    schema.pop("additionalProperties", None)


class MetadataCondition(BaseModel):
    """One metadata condition: a key, and the values it may have (any one of them matches)."""

    # A list of these rather than an object keyed by metadata key: strict function calling (OpenAI's)
    # accepts only objects whose properties are all named, so an open object could not be converted.
    # Other keys are refused here, but not in the published schema: google-genai's MCP path fails on an
    # `additionalProperties: false`, and strict converters add it themselves.
    model_config = ConfigDict(extra="forbid", json_schema_extra=_closed_unpublished)

    key: MetadataKey
    value: Annotated[
        list[MetadataScalar],
        BeforeValidator(_listed),
        Field(min_length=1, max_length=MAX_METADATA_VALUES),
    ]

    def query_value(self) -> MetadataScalar | list[MetadataScalar]:
        """The value as the query takes it: one value alone, several as a list (OR)."""
        return self.value[0] if len(self.value) == 1 else self.value


def _conditions(value: Any) -> Any:
    """The object form `{"plan": ["pro", "team"]}`, which earlier releases published and a view sends
    back as the model wrote it, read as the same conditions in the list form."""
    if isinstance(value, dict):
        return [{"key": key, "value": item} for key, item in value.items()]
    return value


def _distinct_keys(conditions: list[MetadataCondition]) -> list[MetadataCondition]:
    keys = [condition.key for condition in conditions]
    if len(set(keys)) != len(keys):
        raise ValueError("each metadata key may appear once; a list value means any of its values")
    return conditions


MetadataConditions = Annotated[
    list[MetadataCondition],
    BeforeValidator(_conditions),
    Field(max_length=MAX_METADATA_KEYS),
    AfterValidator(_distinct_keys),
]


class CustomerPage(BaseModel):
    """A page of customers."""

    model_config = ConfigDict(json_schema_extra=_undescribed)

    # Plain objects, documented in words: a typed item schema made every MCP client spend ~7 ms
    # validating a 100-customer page against nested anyOf rules, more than our own work. Checked, not
    # copied, when the SDK validates a result.
    customers: list[InstanceOf[dict[str, Any]]]
    page: int
    limit: int
    total_count: int
    max_page: int
    has_more: bool
    next_page: int | None
    notice: str | None = Field(default=None, json_schema_extra=sample_notice)


async def list_customers(
    context: ToolContext,
    organization_id: Annotated[
        UUID | Annotated[list[UUID], Field(max_length=MAX_ORGANIZATIONS)] | None,
        Field(description="Omit with an organization token."),
    ] = None,
    email: Annotated[
        str | None,
        Field(min_length=1, max_length=320, description="Exact email, case-insensitive."),
    ] = None,
    query: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=500,
            description="Part of a name or email, or an external ID's start.",
        ),
    ] = None,
    active: Annotated[
        bool | None,
        Field(description="Has an active, trialing or past-due subscription."),
    ] = None,
    metadata: Annotated[
        MetadataConditions | None,
        Field(description='e.g. [{"key": "plan", "value": ["pro", "team"]}]; all must match.'),
    ] = None,
    sorting: Annotated[
        Annotated[list[SortKey], Field(max_length=MAX_SORT_KEYS)] | None,
        Field(description="'-' descends; default -created_at."),
    ] = None,
    page: Annotated[int, Field(ge=1, le=MAX_PAGE, description="From 1.")] = 1,
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Customers per page.")] = 10,
    fields: Annotated[
        list[ConciseField] | None,
        Field(min_length=1, max_length=len(CONCISE_COLUMNS), description="Columns of concise rows."),
    ] = None,
    response_format: Annotated[
        ResponseFormat, Field(description="detailed: every field, as JSON.")
    ] = "concise",
) -> Annotated[CallToolResult, CustomerPage]:
    """List and search Polar customers."""
    if fields is not None and response_format == "detailed":
        raise ToolError(
            "fields picks the columns of concise rows, and detailed gives every field. "
            "Nothing was sent to Polar; call again without fields or without response_format=detailed."
        )
    if isinstance(organization_id, UUID):
        organization_id = [organization_id]
    customer_query = CustomerQuery(
        organization_ids=tuple(organization_id or ()),
        email=email,
        query=query,
        active=active,
        metadata={condition.key: condition.query_value() for condition in metadata or ()},
        sorting=tuple(sorting or ()),
        page=page,
        limit=limit,
    )
    api_page = await context.polar.list_customers(customer_query)
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
    text = render_page(result, response_format, customer_query.filters(), fields)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=result)


TOOL = Tool(
    name=NAME,
    title=TITLE,
    description=DESCRIPTION,
    handler=list_customers,
    view=CUSTOMERS_TABLE,
    argument_hints=ARGUMENT_HINTS,
    argument_aliases=ARGUMENT_ALIASES,
)


def render_page(
    page: dict[str, Any],
    response_format: ResponseFormat,
    filters: dict[str, Any],
    fields: Sequence[ConciseField] | None = None,
) -> str:
    """Render a structured page (a `CustomerPage` as a dict) so the text alone carries all of it.

    Concise rows show `fields` (default: every column but id); a row whose shown cells give neither
    its email nor its external ID, exactly as Polar has them, ends with its id, so every row names a
    customer that get_customer can fetch.
    """
    customers: list[dict[str, Any]] = page["customers"]
    lines = [_summary(page, len(customers))]
    if page.get("notice"):
        lines.insert(0, page["notice"])
    if filters:
        lines.append("Filters: " + compact(filters))
    if customers:
        if response_format == "concise":
            columns = list(dict.fromkeys(fields or DEFAULT_FIELDS))
            rows = _rows(customers, columns)
            if fields is not None:
                shown = columns if "id" in columns or not any(r[1] for r in rows) else [*columns, "id"]
                lines.append("Columns: " + ", ".join(shown))
            lines.extend(row for row, _ in rows)
        else:
            lines.append("One JSON object per customer, every field Polar returned (null fields omitted):")
            lines.extend(compact(without_nulls(c)) for c in customers)
    if page["next_page"] is not None:
        lines.append(f"next: list_customers with page={page['next_page']} and the same filters")
    return "\n".join(lines)


def _summary(page: dict[str, Any], shown: int) -> str:
    total, number, last = page["total_count"], page["page"], page["max_page"]
    if total == 0:
        return "No customers match."
    if shown == 0:
        return (
            f"No customers on page {number}: the {total} that match fill pages 1 to {last} at "
            f"limit={page['limit']}. Call list_customers with page={last} or lower and the same filters."
        )
    first = (number - 1) * page["limit"] + 1
    return f"Customers {first}-{first + shown - 1} of {total} (page {number} of {last})."


def _rows(customers: list[dict[str, Any]], columns: list[ConciseField]) -> list[tuple[str, bool]]:
    """Each customer's row, and whether it had to end with the id to stay identifiable."""
    table = [_cells(customer, columns) for customer in customers]
    if "type" in columns:
        at = columns.index("type")
        for cells in table:
            cells[at] = TYPE_ABBREVIATIONS.get(cells[at], cells[at])
    lines = [SEPARATOR.join(cells) for cells in table]
    tidy = _tidy("\n".join(lines), len(lines), len(columns))
    identifiers = [at for at, column in enumerate(columns) if column in IDENTIFIERS]
    rows: list[tuple[str, bool]] = []
    for customer, cells, line in zip(customers, table, lines, strict=True):
        if not tidy:
            values = [customer.get(column) for column in columns]
            cells = [
                text if isinstance(value, dict) else cell(text)
                for text, value in zip(cells, values, strict=True)
            ]
            line = SEPARATOR.join(cells)
        # Shown verbatim, an email or external ID is what get_customer takes; otherwise the id is.
        needs_id = "id" not in columns
        for at in identifiers:
            if needs_id and cells[at] and cells[at] == customer.get(columns[at]):
                needs_id = False
        if needs_id:
            line = SEPARATOR.join([*cells, cell(str(customer.get("id") or ""))])
        rows.append((line.rstrip(SEPARATOR), needs_id))
    return rows


def _cells(record: dict[str, Any], columns: list[ConciseField]) -> list[str]:
    return [
        value
        if type(value) is str
        else ""
        if value is None
        else metadata_text(value)
        if isinstance(value, dict)
        else str(value)
        for value in map(record.get, columns)
    ]


def _tidy(text: str, lines: int, columns: int) -> bool:
    """Whether every cell of `text`, rows of tab-separated cells, is already what `cell` would make of it
    (words one space apart, no other whitespace): then no cell needs fixing. Checked in C over the whole
    page at once; a False may be wrong (a non-space invisible), and only costs the per-cell path."""
    return (
        text.count(SEPARATOR) == lines * (columns - 1)
        and text.count("\n") == lines - 1
        and not any(pair in text for pair in _UNTIDY_PAIRS)
        and text[:1] != " "
        and text[-1:] != " "
        and text.replace(SEPARATOR, "").replace("\n", "").isprintable()
    )
