"""Query parameters as Polar's FastAPI endpoints read them, for the fake's billing endpoints.

Each reader takes the request's `(name, value)` pairs and appends pydantic-style problems
(`{"loc", "msg", "type", "input"}`) to a list; `validation_error` wraps them as Polar's 422 body.
A repeated scalar parameter counts by its last value, as Starlette reads it; list parameters
(Polar's `MultipleQueryFilter`) take every value, each checked on its own.
"""

from __future__ import annotations

import functools
import uuid
import zoneinfo
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

__all__ = [
    "Params",
    "boolean",
    "calendar_date",
    "enum_list",
    "error",
    "iana_timezone",
    "metrics_timezone",
    "single_enum",
    "timezone_aware",
    "unexpected",
    "uuid4_list",
    "validation_error",
]

Params = Sequence[tuple[str, str]]
_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n"}


def error(
    loc: Sequence[str | int], msg: str, kind: str, value: Any, ctx: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One problem, as pydantic reports it."""
    problem: dict[str, Any] = {"loc": list(loc), "msg": msg, "type": kind, "input": value}
    if ctx is not None:
        problem["ctx"] = ctx
    return problem


def validation_error(problems: list[dict[str, Any]]) -> dict[str, Any]:
    """Polar's 422 body."""
    return {"error": "RequestValidationError", "detail": problems}


def unexpected(name: str) -> dict[str, Any]:
    """The strict fake's 400 body for a parameter Polar does not define (Polar would ignore it)."""
    return {"detail": f"fake Polar: unexpected query parameter {name!r}"}


def _values(params: Params, name: str) -> list[str]:
    return [value for key, value in params if key == name]


def _last(params: Params, name: str) -> str | None:
    values = _values(params, name)
    return values[-1] if values else None


def uuid4_list(params: Params, name: str, problems: list[dict[str, Any]]) -> list[str] | None:
    """A repeated UUID4 filter, lowercased; `None` when absent."""
    values = _values(params, name)
    if not values:
        return None
    found = []
    for index, value in enumerate(values):
        try:
            parsed = uuid.UUID(value)
        except ValueError:
            problems.append(
                error(
                    ["query", name, index],
                    "Input should be a valid UUID, unable to parse string as a UUID",
                    "uuid_parsing",
                    value,
                )
            )
            continue
        if parsed.version != 4:
            problems.append(
                error(
                    ["query", name, index],
                    "UUID version 4 expected",
                    "uuid_version",
                    value,
                    {"expected_version": 4},
                )
            )
            continue
        found.append(str(parsed))
    return found


def enum_list(
    params: Params, name: str, allowed: Sequence[str], problems: list[dict[str, Any]]
) -> list[str] | None:
    """A repeated enum filter, in the order given; `None` when absent."""
    values = _values(params, name)
    if not values:
        return None
    expected = _expected(allowed)
    for index, value in enumerate(values):
        if value not in allowed:
            problems.append(
                error(
                    ["query", name, index],
                    f"Input should be {expected}",
                    "enum",
                    value,
                    {"expected": expected},
                )
            )
    return [value for value in values if value in allowed]


def single_enum(
    params: Params, name: str, allowed: Sequence[str], problems: list[dict[str, Any]]
) -> str | None:
    """A scalar enum parameter; `None` when absent."""
    value = _last(params, name)
    if value is None:
        return None
    if value not in allowed:
        expected = _expected(allowed)
        problems.append(
            error(["query", name], f"Input should be {expected}", "enum", value, {"expected": expected})
        )
        return None
    return value


def boolean(params: Params, name: str, problems: list[dict[str, Any]]) -> bool | None:
    """A boolean parameter, read as pydantic reads one (`true`, `1`, `yes`, `on`, ...)."""
    value = _last(params, name)
    if value is None:
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    problems.append(
        error(
            ["query", name],
            "Input should be a valid boolean, unable to interpret input",
            "bool_parsing",
            value,
        )
    )
    return None


def timezone_aware(params: Params, name: str, problems: list[dict[str, Any]]) -> datetime | None:
    """An `AwareDatetime` parameter: ISO 8601 with a UTC offset (or a Unix timestamp, which is UTC)."""
    value = _last(params, name)
    if value is None:
        return None
    text = value.strip()
    if text.lstrip("-").replace(".", "", 1).isdigit():
        return datetime.fromtimestamp(float(text), UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        problems.append(
            error(
                ["query", name],
                "Input should be a valid datetime or date, invalid character in year",
                "datetime_from_date_parsing",
                value,
                {"error": "invalid character in year"},
            )
        )
        return None
    if parsed.tzinfo is None:
        problems.append(error(["query", name], "Input should have timezone info", "timezone_aware", value))
        return None
    return parsed


def calendar_date(
    params: Params, name: str, problems: list[dict[str, Any]], *, required: bool
) -> date | None:
    """A `date` parameter (`YYYY-MM-DD`)."""
    value = _last(params, name)
    if value is None:
        if required:
            problems.append(error(["query", name], "Field required", "missing", None))
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(
            error(
                ["query", name],
                "Input should be a valid date or datetime, invalid date separator, expected `-`",
                "date_from_datetime_parsing",
                value,
                {"error": "invalid date separator, expected `-`"},
            )
        )
        return None


def iana_timezone(params: Params, name: str, problems: list[dict[str, Any]]) -> zoneinfo.ZoneInfo | None:
    """The exports' `timezone`: any name `zoneinfo` knows, default `UTC`; Polar's message otherwise."""
    value = _last(params, name)
    if value is None:
        return zoneinfo.ZoneInfo("UTC")
    try:
        return zoneinfo.ZoneInfo(value)
    except (ValueError, zoneinfo.ZoneInfoNotFoundError, IsADirectoryError, OSError):
        message = f"{value!r} is not a valid IANA time zone"
        problems.append(
            error(["query", name], f"Value error, {message}", "value_error", value, {"error": message})
        )
        return None


@functools.cache
def _metrics_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - {"localtime"})


def metrics_timezone(params: Params, name: str, problems: list[dict[str, Any]]) -> zoneinfo.ZoneInfo | None:
    """The metrics' `timezone` (pydantic's `TimeZoneName`): one of the IANA names, default `UTC`."""
    value = _last(params, name)
    if value is None:
        return zoneinfo.ZoneInfo("UTC")
    if value not in _metrics_zones():
        problems.append(error(["query", name], "Invalid timezone name.", "TimeZoneName", value))
        return None
    return zoneinfo.ZoneInfo(value)


def _expected(allowed: Sequence[str]) -> str:
    quoted = [f"'{value}'" for value in allowed]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
