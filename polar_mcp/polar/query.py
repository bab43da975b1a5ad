"""The validated request for a page of customers: its argument types and the exact query string Polar gets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_METADATA_KEYS",
    "MAX_METADATA_TEXT",
    "MAX_METADATA_VALUES",
    "MAX_ORGANIZATIONS",
    "MAX_PAGE",
    "MAX_SORT_KEYS",
    "CustomerQuery",
    "MetadataFilter",
    "MetadataKey",
    "MetadataScalar",
    "MetadataValue",
    "ResponseFormat",
    "SortKey",
]

MAX_LIMIT = 100
DEFAULT_LIMIT = 10
# Every argument is bounded in the schema, so that no call can build an unbounded query string.
MAX_PAGE = 100_000  # 10 million customers at limit=100
MAX_ORGANIZATIONS = 10
MAX_SORT_KEYS = 3  # one per sortable field
MAX_METADATA_KEYS = 5
MAX_METADATA_VALUES = 10  # per key
MAX_METADATA_TEXT = 200  # characters of one metadata value

SortKey = Literal["created_at", "-created_at", "email", "-email", "name", "-name"]
ResponseFormat = Literal["concise", "detailed"]
# Brackets would break the deepObject encoding `metadata[key]=value`.
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\[\]]+$")]
MetadataScalar = (
    Annotated[str, StringConstraints(max_length=MAX_METADATA_TEXT)]
    | Annotated[int, Field(ge=-(2**53), le=2**53)]
    | bool
)
MetadataValue = (
    MetadataScalar | Annotated[list[MetadataScalar], Field(min_length=1, max_length=MAX_METADATA_VALUES)]
)
MetadataFilter = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=MAX_METADATA_KEYS)]


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
