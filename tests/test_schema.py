"""Schema leaning: optional arguments published as nullable unions, unions kept as `anyOf` (never type
lists), standard formats only, and output schemas without defaults or single-use definitions, each
meaning what the schema pydantic derived means (null aside, which the server reads as absent)."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, Field

from polar_mcp.tools.schema import NULL, lean_arguments, lean_output, lean_schema, nullable, sample_notice

STRING = {"type": "string", "maxLength": 3}
INTEGER = {"type": "integer", "minimum": 0}

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


# Each row: an optional argument's schema as pydantic derives it, and what `nullable` publishes.
NULLABLE = [
    (
        "a plain type, next to a description and a default",
        {"description": "d", "default": 1, "type": "integer", "minimum": 0},
        {"default": 1, "anyOf": [{"description": "d", "type": "integer", "minimum": 0}, NULL]},
    ),
    (
        "pydantic's own nullable union, with its null default left out",
        {"anyOf": [STRING, NULL], "default": None, "description": "d"},
        {"anyOf": [{"description": "d", **STRING}, NULL]},
    ),
    (
        "a union of two types and null keeps its description around them",
        {"anyOf": [STRING, {"type": "array", "items": STRING}, NULL], "default": None, "description": "d"},
        {"description": "d", "anyOf": [STRING, {"type": "array", "items": STRING}, NULL]},
    ),
    (
        "a union with a keyword beside it stays one branch",
        {"anyOf": [STRING, INTEGER], "maxLength": 2},
        {"anyOf": [{"anyOf": [STRING, INTEGER], "maxLength": 2}, NULL]},
    ),
    (
        "an enum",
        {"enum": ["a", "b"], "type": "string"},
        {"anyOf": [{"enum": ["a", "b"], "type": "string"}, NULL]},
    ),
]


@pytest.mark.parametrize(("name", "schema", "expected"), NULLABLE, ids=[row[0] for row in NULLABLE])
def test_an_optional_argument_accepts_null_and_otherwise_the_same_values(
    name: str, schema: dict[str, Any], expected: dict[str, Any]
) -> None:
    published = nullable(copy.deepcopy(schema))
    assert published == expected
    nulls = [instance is None for instance in INSTANCES]
    assert verdicts(published) == [a or b for a, b in zip(verdicts(schema), nulls, strict=True)]


def _types(schema: Any) -> list[Any]:
    if isinstance(schema, dict):
        return [value for key, value in schema.items() if key == "type"] + _types(list(schema.values()))
    if isinstance(schema, list):
        return [found for item in schema for found in _types(item)]
    return []


class Arguments(BaseModel):
    sql: str
    refresh: bool = False
    ids: str | list[str] | None = None
    limit: int | None = None


def test_arguments_keep_required_ones_as_they_are_and_write_no_type_list() -> None:
    lean = lean_arguments(Arguments.model_json_schema())
    assert lean == {
        "type": "object",
        "properties": {
            "sql": {"type": "string"},
            "refresh": {"default": False, "anyOf": [{"type": "boolean"}, NULL]},
            "ids": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}, NULL]},
            "limit": {"anyOf": [{"type": "integer"}, NULL]},
        },
        "required": ["sql"],
    }
    assert all(isinstance(type_, str) for type_ in _types(lean))


def test_a_format_only_pydantic_knows_is_published_as_the_standard_one() -> None:
    from pydantic import UUID4

    class Lookup(BaseModel):
        id: UUID4
        format: str  # a property named like the keyword is not one

    lean = lean_schema(Lookup.model_json_schema())
    assert lean["properties"] == {"id": {"type": "string", "format": "uuid"}, "format": {"type": "string"}}


def test_nested_unions_stay_unions_without_titles_or_open_keywords() -> None:
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
            "^a": {"anyOf": [STRING, {"type": "array", "items": {"anyOf": [STRING, INTEGER]}}]}
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
            "next_page": {"anyOf": [{"type": "integer"}, NULL]},
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


class Page(BaseModel):
    total: int
    notice: str | None = Field(default=None, json_schema_extra=sample_notice)


def test_the_sample_notice_is_published_only_by_a_server_serving_sample_data() -> None:
    schema = Page.model_json_schema()
    merchant = lean_output(schema)
    sample = lean_output(schema, sample=True)
    assert merchant == {"type": "object", "properties": {"total": {"type": "integer"}}, "required": ["total"]}
    assert sample == {
        "type": "object",
        "properties": {"total": {"type": "integer"}, "notice": {"type": "string"}},
        "required": ["total"],
    }
    jsonschema.validate(Page(total=3, notice="DEMO DATA").model_dump(mode="json", exclude_none=True), sample)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"total": 3, "notice": None}, sample)


def test_a_tool_without_an_output_schema_keeps_none() -> None:
    assert lean_output(None) is None
