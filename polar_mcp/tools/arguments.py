"""The texts of argument errors, worded per tool: what was wrong and what the argument accepts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from polar_mcp.tools.base import Tool

__all__ = [
    "describe_boolean_numbers",
    "describe_unknown_arguments",
    "describe_unknown_tool",
    "describe_validation_error",
]

_TOKEN_HINT = "the token is read from POLAR_ACCESS_TOKEN on the server, never passed as an argument"
# Argument names no tool has, answered the same way by every tool.
SHARED_ALIASES = {"access_token": _TOKEN_HINT, "token": _TOKEN_HINT}


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
