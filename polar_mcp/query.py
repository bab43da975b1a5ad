"""The validated `list_customers` query: argument types, friendly validation errors, and the query string."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, StringConstraints, ValidationError

__all__ = [
    "ARGUMENT_HINTS",
    "MAX_LIMIT",
    "CustomerQuery",
    "MetadataFilter",
    "ResponseFormat",
    "SortKey",
    "describe_unknown_arguments",
    "describe_validation_error",
]

MAX_LIMIT = 100
DEFAULT_LIMIT = 10

SortKey = Literal["created_at", "-created_at", "email", "-email", "name", "-name"]
ResponseFormat = Literal["concise", "detailed"]
# Brackets would break the deepObject encoding `metadata[key]=value`.
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\[\]]+$")]
MetadataScalar = str | int | bool
MetadataValue = MetadataScalar | Annotated[list[MetadataScalar], Field(min_length=1)]
MetadataFilter = dict[MetadataKey, MetadataValue]

# What each argument accepts, in the words an error message uses.
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

# Names assistants reach for that the API does not have, and what to use instead.
_ARGUMENT_ALIASES: dict[str, str] = {
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


@dataclass(frozen=True)
class CustomerQuery:
    """One validated request for a page of customers; `params()` is exactly what goes on the wire."""

    organization_ids: tuple[UUID, ...] = ()
    email: str | None = None
    query: str | None = None
    active: bool | None = None
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)
    sorting: tuple[SortKey, ...] = ()
    page: int = 1
    limit: int = DEFAULT_LIMIT

    def params(self) -> list[tuple[str, str]]:
        """Encode as Polar expects: repeated keys for lists, deepObject metadata, lowercase booleans."""
        pairs: list[tuple[str, str]] = [("organization_id", str(org)) for org in self.organization_ids]
        if self.email is not None:
            pairs.append(("email", self.email))
        if self.query is not None:
            pairs.append(("query", self.query))
        if self.active is not None:
            pairs.append(("active", _text(self.active)))
        for key, value in self.metadata.items():
            values = value if isinstance(value, list) else [value]
            pairs.extend((f"metadata[{key}]", _text(item)) for item in values)
        pairs.extend(("sorting", key) for key in self.sorting)
        pairs.append(("page", str(self.page)))
        pairs.append(("limit", str(self.limit)))
        return pairs

    def filters(self) -> dict[str, Any]:
        """The arguments that narrow the result, as the caller would pass them again."""
        found: dict[str, Any] = {}
        if self.organization_ids:
            ids = [str(org) for org in self.organization_ids]
            found["organization_id"] = ids[0] if len(ids) == 1 else ids
        for name in ("email", "query", "active"):
            if getattr(self, name) is not None:
                found[name] = getattr(self, name)
        if self.metadata:
            found["metadata"] = dict(self.metadata)
        if self.sorting:
            found["sorting"] = list(self.sorting)
        return found


def _text(value: str | int | bool) -> str:
    # Polar compares metadata as text; JSON spelling keeps booleans as true/false, not True/False.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe_validation_error(error: ValidationError) -> str:
    """Turn pydantic's report into one line per argument: what was wrong and what is allowed."""
    lines: list[str] = []
    seen: set[str] = set()
    for item in error.errors(include_url=False):
        loc = [str(part) for part in item["loc"]]
        argument = loc[0] if loc else "arguments"
        if argument in seen:
            continue
        seen.add(argument)
        where = argument + "".join(f"[{part}]" for part in loc[1:] if not _is_type_tag(part))
        got = _short(item.get("input"))
        allowed = ARGUMENT_HINTS.get(argument, "a value of the documented type")
        lines.append(f"Invalid argument {where}: got {got}; {argument} must be {allowed}.")
    lines.append("Nothing was sent to Polar; fix the argument and call list_customers again.")
    return "\n".join(lines)


def describe_unknown_arguments(unknown: Sequence[str]) -> str:
    """Explain arguments the tool does not have; Polar would silently ignore them and return everyone."""
    lines = []
    for name in unknown:
        hint = _ARGUMENT_ALIASES.get(name)
        lines.append(f"Unknown argument {name!r}" + (f": {hint}." if hint else "."))
    lines.append(
        f"list_customers accepts only: {', '.join(ARGUMENT_HINTS)}. "
        "Nothing was sent to Polar; call again without the unknown arguments."
    )
    return "\n".join(lines)


def _is_type_tag(part: str) -> bool:
    # pydantic adds union member tags such as `list[...]` to locations; they mean nothing to a caller.
    return (
        part in {"str", "int", "bool", "uuid", "function-after[...]"}
        or "[" in part
        or part.startswith(("function-", "constrained-"))
    )


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
