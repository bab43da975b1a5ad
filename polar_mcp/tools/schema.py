"""Lean published schemas: the tools' JSON Schemas as every conversation pays for them, with what
tells a model nothing left out and the meaning unchanged."""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["lean_arguments", "lean_output", "lean_schema", "merge_types", "text_when_set"]


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


def text_when_set(schema: dict[str, Any]) -> None:
    """For `json_schema_extra`: an optional text that is left out rather than null, published as plain
    text (its null default goes with the rest in `lean_output`)."""
    schema.pop("anyOf", None)
    schema["type"] = "string"
