"""Schema leaning: type lists for unions of plain types, and output schemas without defaults or
single-use definitions, each meaning what the schema pydantic derived means."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel

from polar_mcp.tools.schema import lean_output, lean_schema, merge_types

STRING = {"type": "string", "maxLength": 3}
INTEGER = {"type": "integer", "minimum": 0}

# Each row: the schema, and what merge_types makes of it.
MERGED = [
    (
        "string or integer",
        {"anyOf": [STRING, INTEGER]},
        {"type": ["string", "integer"], "maxLength": 3, "minimum": 0},
    ),
    ("nullable integer", {"anyOf": [{"type": "integer"}, {"type": "null"}]}, {"type": ["integer", "null"]}),
    (
        "uuid or a list of them, next to a description",
        {
            "description": "d",
            "anyOf": [
                {"type": "string", "format": "uuid"},
                {"type": "array", "items": {"type": "string"}, "maxItems": 2},
            ],
        },
        {
            "description": "d",
            "type": ["string", "array"],
            "format": "uuid",
            "items": {"type": "string"},
            "maxItems": 2,
        },
    ),
    (
        "boolean or object",
        {"anyOf": [{"type": "boolean"}, {"type": "object", "required": ["a"], "maxProperties": 1}]},
        {"type": ["boolean", "object"], "required": ["a"], "maxProperties": 1},
    ),
]

# Each row: a schema merge_types must leave as it is, since a type list would not mean the same.
KEPT = [
    (
        "branches share a keyword",
        {"anyOf": [{"type": "string", "description": "a"}, {"type": "integer", "description": "b"}]},
    ),
    ("a keyword of another type would bind", {"anyOf": [{"type": "string", "minimum": 1}, INTEGER]}),
    ("enum applies to every type", {"anyOf": [{"type": "string", "enum": ["a"]}, INTEGER]}),
    ("a repeated type", {"anyOf": [STRING, {"type": "string", "pattern": "^a"}]}),
    (
        "integer and number share their keywords",
        {"anyOf": [INTEGER, {"type": "number", "maximum": 5}]},
    ),
    ("a $ref branch", {"anyOf": [{"$ref": "#/$defs/Thing"}, {"type": "null"}]}),
    ("a branch with a type list", {"anyOf": [{"type": ["string", "null"]}, INTEGER]}),
    ("a branch without a type", {"anyOf": [{"maxLength": 3}, INTEGER]}),
    ("an unknown type", {"anyOf": [{"type": "date"}, INTEGER]}),
    ("the parent has a merged key", {"maxLength": 9, "anyOf": [STRING, INTEGER]}),
    ("the parent has a type", {"type": "string", "anyOf": [STRING, INTEGER]}),
]

# Values of every kind, at and past the bounds above.
INSTANCES: list[Any] = [
    "",
    "abc",
    "abcd",
    "not-a-uuid",
    "1dbfc517-0bbf-4301-9ba8-555ca42b9737",
    -1,
    0,
    7,
    1.5,
    True,
    None,
    [],
    ["a"],
    ["a", "b", "c"],
    [1],
    {},
    {"a": 1},
    {"a": 1, "b": 2},
]


def verdicts(schema: dict[str, Any]) -> list[bool]:
    checker = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return [checker.is_valid(instance) for instance in INSTANCES]


@pytest.mark.parametrize(("name", "schema", "expected"), MERGED, ids=[row[0] for row in MERGED])
def test_a_union_of_plain_types_becomes_a_type_list_that_accepts_the_same_values(
    name: str, schema: dict[str, Any], expected: dict[str, Any]
) -> None:
    merged = merge_types(copy.deepcopy(schema))
    assert merged == expected
    assert verdicts(merged) == verdicts(schema)


@pytest.mark.parametrize(("name", "schema"), KEPT, ids=[row[0] for row in KEPT])
def test_a_union_a_type_list_would_change_is_left_as_it_is(name: str, schema: dict[str, Any]) -> None:
    assert merge_types(copy.deepcopy(schema)) == schema


def test_nested_unions_merge_from_the_inside_out() -> None:
    schema = {
        "title": "Filter",
        "type": "object",
        "patternProperties": {
            "^a": {
                "anyOf": [
                    STRING,
                    {"type": "array", "items": {"anyOf": [STRING, INTEGER]}, "title": "List"},
                ]
            }
        },
        "additionalProperties": True,
    }
    assert lean_schema(schema) == {
        "type": "object",
        "patternProperties": {
            "^a": {
                "type": ["string", "array"],
                "maxLength": 3,
                "items": {"type": ["string", "integer"], "maxLength": 3, "minimum": 0},
            }
        },
    }


def test_property_names_and_data_are_not_taken_for_keywords() -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "default": {"type": "string", "default": "x"}},
        "examples": [{"title": "kept", "anyOf": [STRING, INTEGER]}],
    }
    assert lean_schema(schema, drop=frozenset({"default"})) == {
        "type": "object",
        "properties": {"title": {"type": "string"}, "default": {"type": "string"}},
        "examples": [{"title": "kept", "anyOf": [STRING, INTEGER]}],
    }


class Snapshot(BaseModel):
    taken_at: str
    customers: int


class Answer(BaseModel):
    rows: list[list[Any]]
    snapshot: Snapshot
    notice: str = ""
    next_page: int | None = None


class Twice(BaseModel):
    before: Snapshot
    after: Snapshot


def test_an_output_schema_inlines_a_single_use_definition_and_drops_defaults_and_open_items() -> None:
    schema = Answer.model_json_schema()
    lean = lean_output(schema)
    assert lean == {
        "type": "object",
        "properties": {
            "rows": {"type": "array", "items": {"type": "array"}},
            "snapshot": {
                "type": "object",
                "properties": {"taken_at": {"type": "string"}, "customers": {"type": "integer"}},
                "required": ["taken_at", "customers"],
            },
            "notice": {"type": "string"},
            "next_page": {"type": ["integer", "null"]},
        },
        "required": ["rows", "snapshot"],
    }
    answer = Answer(rows=[[1, "a", None]], snapshot=Snapshot(taken_at="2026-11-25T06:57:18Z", customers=3))
    for result in (answer.model_dump(mode="json"), answer.model_dump(mode="json", exclude_defaults=True)):
        jsonschema.validate(result, schema)
        jsonschema.validate(result, lean)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"rows": [], "snapshot": {"taken_at": "now"}}, lean)


def test_a_definition_used_twice_stays_a_definition() -> None:
    lean = lean_output(Twice.model_json_schema())
    assert lean is not None
    assert lean["properties"] == {
        "before": {"$ref": "#/$defs/Snapshot"},
        "after": {"$ref": "#/$defs/Snapshot"},
    }
    assert set(lean["$defs"]) == {"Snapshot"}


# Each row: a schema whose definition must stay where it is.
KEPT_DEFINITIONS = [
    (
        "referenced only from inside itself",
        {
            "type": "object",
            "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
        },
    ),
    (
        "a key next to the $ref that the definition has too",
        {
            "type": "object",
            "properties": {"p": {"$ref": "#/$defs/D", "description": "field"}},
            "$defs": {"D": {"type": "object", "description": "model"}},
        },
    ),
]


@pytest.mark.parametrize(("name", "schema"), KEPT_DEFINITIONS, ids=[row[0] for row in KEPT_DEFINITIONS])
def test_a_definition_that_cannot_be_written_in_place_is_kept(name: str, schema: dict[str, Any]) -> None:
    assert lean_output(schema) == schema


def test_keys_next_to_a_single_use_ref_are_kept_when_it_is_inlined() -> None:
    schema = {
        "type": "object",
        "properties": {"p": {"$ref": "#/$defs/D", "description": "field"}},
        "$defs": {"D": {"type": "object", "required": ["a"]}},
    }
    assert lean_output(schema) == {
        "type": "object",
        "properties": {"p": {"description": "field", "type": "object", "required": ["a"]}},
    }


def test_a_tool_without_an_output_schema_keeps_none() -> None:
    assert lean_output(None) is None
