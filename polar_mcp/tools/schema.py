"""Lean published schemas: the tools' JSON Schemas as every conversation pays for them, with what
tells a model nothing left out and the meaning unchanged."""

from __future__ import annotations

import copy
from typing import Any

__all__ = [
    "NULL",
    "STANDARD_FORMATS",
    "lean_arguments",
    "lean_output",
    "lean_schema",
    "nullable",
    "sample_notice",
    "text_when_set",
]


# Keywords whose values map names to schemas, and keywords whose values are data rather than schemas.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs", "definitions"})
_LITERALS = frozenset({"const", "default", "enum", "examples", "dependentRequired"})
_DEFS = "#/$defs/"
# Keywords that describe a schema rather than constrain its values: they stay outside a union.
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "deprecated"})
NULL: dict[str, Any] = {"type": "null"}
# Marks an output property that only a server serving sample data sets (`sample_notice`).
_SAMPLE_ONLY = "x-sample-only"
# Formats pydantic names that JSON Schema does not define, and the standard format each one narrows.
# Validators and model providers know only the standard names (an unknown format is ignored or
# refused); the narrower check stays on the server, and the argument's description says it.
STANDARD_FORMATS = {f"uuid{version}": "uuid" for version in (1, 3, 4, 5, 6, 7, 8)}


def lean_schema(schema: Any, *, drop: frozenset[str] = frozenset()) -> Any:
    """`schema` without the titles pydantic derives from names ("Organization Id"), without an
    `additionalProperties` or `items` that allows anything (JSON Schema's default) and without the
    keywords in `drop`: every tool list repeats them, and they tell a model nothing the property name and
    type do not. Formats only pydantic knows become the standard ones they narrow (`STANDARD_FORMATS`).
    Unions stay `anyOf` branches of one type each: a type list (`"type": ["string", "array"]`) is
    shorter, but clients that map schemas onto a one-type dialect (Gemini's, OpenAPI 3.0) refuse it or
    lose its constraints."""
    if isinstance(schema, list):
        return [lean_schema(item, drop=drop) for item in schema]
    if not isinstance(schema, dict):
        return schema
    lean: dict[str, Any] = {}
    for key, value in schema.items():
        if key in drop or (key == "title" and isinstance(value, str)):
            continue  # a derived title, or a keyword left out on purpose
        if key in ("minimum", "maximum") and value in (2**53, -(2**53)):
            continue  # JSON's safe-integer range: what every client's integers hold; still checked here
        if key in ("minLength", "minItems") and value == 1:
            continue  # "not empty" tells a model nothing it would not do; still checked here, with a message
        if key in _LITERALS:
            lean[key] = value  # data, kept as it is
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            lean[key] = {name: lean_schema(sub, drop=drop) for name, sub in value.items()}
        else:
            lean[key] = lean_schema(value, drop=drop)
        if key in ("additionalProperties", "items") and (lean[key] is True or lean[key] == {}):
            del lean[key]  # anything goes: JSON Schema's default
        elif key == "format" and isinstance(value, str):
            lean[key] = STANDARD_FORMATS.get(value, value)
    return lean


def lean_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """An input schema made lean as `lean_schema` does, with every optional argument published as
    nullable (`nullable`) and each definition used once written where it is used. Strict function
    calling (OpenAI's, and every converter that prepares schemas for it) lists every property in
    `required`, so a model there says "not given" with null; the server drops null arguments before it
    reads them, so null and absent mean the same everywhere."""
    required = set(schema.get("required", ()))
    properties = {
        name: prop if name in required else nullable(prop)
        for name, prop in schema.get("properties", {}).items()
    }
    lean: dict[str, Any] = lean_schema(
        _inline_single_use({**schema, "properties": properties} if "properties" in schema else schema)
    )
    return lean


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` accepting null too, as an `anyOf` whose branches are the schema's own (its `anyOf`, or the
    rest of its keywords as one branch), then `{"type": "null"}`. Its default stays beside the `anyOf`
    (a null default is left out: absent and null mean the same), and so does its description, except
    with one branch besides null: there the description goes into that branch, since converters that
    fold "X or null" into a nullable X (Gemini's `Schema.from_json_schema`) keep the branch and drop
    what surrounds it."""
    annotations = {
        key: value
        for key, value in schema.items()
        if key in _ANNOTATIONS and not (key == "default" and value is None)
    }
    constraints = {key: value for key, value in schema.items() if key not in _ANNOTATIONS}
    branches = constraints.get("anyOf")
    if isinstance(branches, list) and len(constraints) == 1:
        kept = [branch for branch in branches if branch != NULL]
    else:
        kept = [constraints]
    if len(kept) == 1 and "description" in annotations and "description" not in kept[0]:
        kept = [{"description": annotations.pop("description"), **kept[0]}]
    return {**annotations, "anyOf": [*kept, NULL]}


def lean_output(schema: dict[str, Any] | None, *, sample: bool = False) -> dict[str, Any] | None:
    """An output schema made lean as `lean_schema` does, with its `default` keywords left out (a
    default says nothing about a result) and each definition used once written where it is used. The
    properties marked by `sample_notice` are published only when the server serves sample data
    (`sample`): elsewhere no result has them, and every conversation would pay for them."""
    if schema is None:
        return None
    lean: dict[str, Any] = lean_schema(_inline_single_use(schema), drop=frozenset({"default"}))
    properties = lean.get("properties")
    if isinstance(properties, dict):
        for name, prop in list(properties.items()):
            if isinstance(prop, dict) and prop.pop(_SAMPLE_ONLY, False) and not sample:
                del properties[name]
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


def sample_notice(schema: dict[str, Any]) -> None:
    """For `json_schema_extra`: the line a sample-data result starts with, as `text_when_set` publishes
    it, and only by a server that serves sample data (`lean_output`)."""
    text_when_set(schema)
    schema[_SAMPLE_ONLY] = True
