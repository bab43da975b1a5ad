"""What every tool shares: its registration record, its run-time context, lean schemas, error texts."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import ValidationError

from polar_mcp.config import Settings
from polar_mcp.errors import ConfigError
from polar_mcp.polar import PolarClient

__all__ = [
    "DEMO_NOTICE",
    "Tool",
    "ToolContext",
    "describe_boolean_numbers",
    "describe_unknown_arguments",
    "describe_unknown_tool",
    "describe_validation_error",
    "lean_arguments",
    "lean_output",
    "lean_schema",
    "merge_types",
    "read_only",
]

DEMO_NOTICE = "DEMO DATA: a made-up sample organization, not your customers."
_TOKEN_HINT = "the token is read from POLAR_ACCESS_TOKEN on the server, never passed as an argument"
# Argument names no tool has, answered the same way by every tool.
SHARED_ALIASES = {"access_token": _TOKEN_HINT, "token": _TOKEN_HINT}


@dataclass(frozen=True)
class ToolContext:
    """What a tool needs at call time: settings, the one shared Polar client, and start-up problems."""

    settings: Settings
    polar: PolarClient
    config_error: ConfigError | None = None

    @property
    def notice(self) -> str | None:
        """The line every demo result starts with, so nobody mistakes sample data for their own."""
        return DEMO_NOTICE if self.settings.demo else None

    def check_ready(self) -> None:
        """Raise the configuration problem as a tool error: each call explains which variable to fix."""
        if self.config_error is not None:
            raise ToolError(str(self.config_error))


@dataclass(frozen=True)
class Tool:
    """One tool module's record: `register` adds the tool to a server; the hints word argument errors."""

    name: str
    register: Callable[[MCPServer, ToolContext], None]
    argument_hints: Mapping[str, str]
    """What each argument accepts, in the words an error message uses."""
    argument_aliases: Mapping[str, str] = field(default_factory=dict)
    """Argument names assistants reach for that the tool does not have, and what to use instead."""


def read_only(title: str) -> ToolAnnotations:
    """Annotations of a tool that only reads from Polar, the same for every tool here. The spec gives
    `idempotentHint` meaning only when `readOnlyHint` is false, so it is left out; `destructiveHint` and
    `openWorldHint` stay, as some hosts' app reviews ask for them by name."""
    return ToolAnnotations(title=title, read_only_hint=True, destructive_hint=False, open_world_hint=True)


# Keywords that constrain only values of one kind (JSON Schema ignores them for the others), by kind;
# integer and number are one kind, with the same keywords.
_TYPE_KEYWORDS: dict[str, frozenset[str]] = {
    "string": frozenset(
        ["minLength", "maxLength", "pattern", "format", "contentEncoding", "contentMediaType"]
    ),
    "number": frozenset(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"]),
    "array": frozenset(
        [
            "items",
            "prefixItems",
            "minItems",
            "maxItems",
            "uniqueItems",
            "contains",
            "minContains",
            "maxContains",
        ]
    ),
    "object": frozenset(
        [
            "properties",
            "patternProperties",
            "additionalProperties",
            "propertyNames",
            "required",
            "minProperties",
            "maxProperties",
            "dependentRequired",
            "dependentSchemas",
        ]
    ),
    "boolean": frozenset(),
    "null": frozenset(),
}
_KIND = {"integer": "number"}
# Keywords whose values map names to schemas, and keywords whose values are data rather than schemas.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs", "definitions"})
_LITERALS = frozenset({"const", "default", "enum", "examples", "dependentRequired"})
_DEFS = "#/$defs/"


def lean_schema(schema: Any, *, drop: frozenset[str] = frozenset()) -> Any:
    """`schema` without the titles pydantic derives from names ("Organization Id"), without an
    `additionalProperties` or `items` that allows anything (JSON Schema's default) and without the
    keywords in `drop`: every tool list repeats them, and they tell a model nothing the property name and
    type do not. Unions of plain types become type lists (`merge_types`)."""
    if isinstance(schema, list):
        return [lean_schema(item, drop=drop) for item in schema]
    if not isinstance(schema, dict):
        return schema
    lean: dict[str, Any] = {}
    for key, value in schema.items():
        if key in drop or (key == "title" and isinstance(value, str)):
            continue  # a derived title, or a keyword left out on purpose
        if key in _LITERALS:
            lean[key] = value  # data, kept as it is
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            lean[key] = {name: lean_schema(sub, drop=drop) for name, sub in value.items()}
        else:
            lean[key] = lean_schema(value, drop=drop)
        if key in ("additionalProperties", "items") and (lean[key] is True or lean[key] == {}):
            del lean[key]  # anything goes: JSON Schema's default
    return merge_types(lean)


def merge_types(schema: dict[str, Any]) -> dict[str, Any]:
    """`{"anyOf": [{"type": "string", "maxLength": 9}, {"type": "integer"}]}` written as
    `{"type": ["string", "integer"], "maxLength": 9}`: the same values are valid, in fewer tokens.

    The meaning holds because keywords such as maxLength, minimum, items or format constrain only values
    of their own type and say nothing about the others. So it is done only when every branch has one
    type of a kind no other branch has (integer and number are one kind) and no keyword but those of its
    kind: not enum, const, $ref or description, which apply whatever the type. Kinds' keywords differ, so
    no two branches share one; and the schema holding the anyOf must have none of the keys it would gain.
    Any other schema is returned as it is.
    """
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or len(branches) < 2 or "type" in schema:
        return schema
    types: list[str] = []
    kinds: set[str] = set()
    merged: dict[str, Any] = {}
    for branch in branches:
        if not isinstance(branch, dict) or not isinstance(branch.get("type"), str):
            return schema
        type_: str = branch["type"]
        kind = _KIND.get(type_, type_)
        allowed = _TYPE_KEYWORDS.get(kind)
        rest = {key: value for key, value in branch.items() if key != "type"}
        if allowed is None or kind in kinds or not rest.keys() <= allowed or rest.keys() & schema.keys():
            return schema
        types.append(type_)
        kinds.add(kind)
        merged.update(rest)
    lean: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "anyOf":
            lean["type"] = types
            lean.update(merged)
        else:
            lean[key] = value
    return lean


def lean_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """An input schema made lean as `lean_schema` does, and an optional argument whose default is null
    published as its non-null type alone (leaving it out means the same; the server still accepts null).
    The null branch goes first, so that it never ends up in a type list."""
    required = set(schema.get("required", ()))
    properties: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        branches = prop.get("anyOf")
        if name in required or prop.get("default", 0) is not None or not isinstance(branches, list):
            properties[name] = prop
            continue
        kept = [branch for branch in branches if branch != {"type": "null"}]
        properties[name] = {key: value for key, value in prop.items() if key not in ("default", "anyOf")}
        properties[name].update(kept[0] if len(kept) == 1 else {"anyOf": kept})
    lean: dict[str, Any] = lean_schema(
        {**schema, "properties": properties} if "properties" in schema else schema
    )
    return lean


def lean_output(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """An output schema made lean as `lean_schema` does, with its `default` keywords left out (a
    default says nothing about a result) and each definition used once written where it is used."""
    if schema is None:
        return None
    lean: dict[str, Any] = lean_schema(_inline_single_use(schema), drop=frozenset({"default"}))
    return lean


def _inline_single_use(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with each `$defs` entry that is referenced once, from outside itself, written in place of
    its `$ref` (keys next to the `$ref` are kept when the definition does not have them too)."""
    if not isinstance(schema.get("$defs"), dict):
        return schema
    schema = copy.deepcopy(schema)
    defs: dict[str, Any] = schema["$defs"]
    for name in list(defs):
        holders = _refs(schema).get(_DEFS + name, [])
        if len(holders) != 1 or _DEFS + name in _refs(defs[name]):
            continue  # used more than once, not at all, or from inside itself
        (holder,) = holders
        if not (holder.keys() - {"$ref"}) & defs[name].keys():
            del holder["$ref"]
            holder.update(defs.pop(name))
    if not defs:
        del schema["$defs"]
    return schema


def _refs(
    schema: Any, found: dict[str, list[dict[str, Any]]] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Each `$ref` target in `schema`, with the schemas that refer to it."""
    found = {} if found is None else found
    if isinstance(schema, list):
        for item in schema:
            _refs(item, found)
    elif isinstance(schema, dict):
        if isinstance(schema.get("$ref"), str):
            found.setdefault(schema["$ref"], []).append(schema)
        for key, value in schema.items():
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                _refs(list(value.values()), found)
            elif key not in _LITERALS:
                _refs(value, found)
    return found


def describe_validation_error(error: ValidationError, tool: Tool) -> str:
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
        allowed = tool.argument_hints.get(argument, "a value of the documented type")
        lines.append(f"Invalid argument {where}: got {got}; {argument} must be {allowed}.")
    lines.append(f"Nothing was sent to Polar; fix the argument and call {tool.name} again.")
    return "\n".join(lines)


def describe_unknown_arguments(unknown: Sequence[str], tool: Tool) -> str:
    """Explain arguments the tool does not have; Polar would silently ignore them and return everyone."""
    lines = []
    for name in unknown:
        hint = tool.argument_aliases.get(name) or SHARED_ALIASES.get(name)
        lines.append(f"Unknown argument {name!r}" + (f": {hint}." if hint else "."))
    lines.append(
        f"{tool.name} accepts only: {', '.join(tool.argument_hints)}. "
        "Nothing was sent to Polar; call again without the unknown arguments."
    )
    return "\n".join(lines)


def describe_boolean_numbers(names: Sequence[str], tool: Tool) -> str:
    """Explain a true or false given where a number belongs."""
    lines = [
        f"Invalid argument {name}: got a boolean; {name} must be {tool.argument_hints.get(name, 'a number')}."
        for name in names
    ]
    lines.append(f"Nothing was sent to Polar; fix the argument and call {tool.name} again.")
    return "\n".join(lines)


def describe_unknown_tool(name: str, known: Sequence[str]) -> str:
    """Name the tools that exist, so a mistyped name is fixed on the next call."""
    return (
        f"Unknown tool {_short(name)}. This server's tools are: {', '.join(known)}. "
        "Call one of them by that name."
    )


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
