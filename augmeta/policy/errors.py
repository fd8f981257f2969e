"""The one error type of policy files, and how pydantic's errors are worded for people."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

__all__ = ["PolicyError", "field_path", "from_validation_error"]


class PolicyError(ValueError):
    """A policy (file) that is not valid. The message names the field path, the value and what was expected."""


_UNION_TAGS = ("fixed", "uniform", "list[float]")


def field_path(loc: tuple[Any, ...]) -> str:
    """``('subpolicies', 3, 'steps', 0, 'p')`` -> ``subpolicies[3].steps[0].p``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not str(part).startswith("function-") and part not in _UNION_TAGS:
            path += f".{part}" if path else str(part)
    return path or "<policy>"


def _describe(error: dict[str, Any]) -> str:
    path = field_path(error["loc"])
    kind, value = error["type"], error.get("input")
    if kind == "missing":
        return f"`{path}` is required but missing."
    if kind == "extra_forbidden":
        return f"`{path}` is not a field of the policy format (got value {value!r}); remove it or check its spelling."
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "value_error":
        return f"`{path}` {message}"
    message = message.replace("Input should", "should", 1)
    return f"`{path}` {message}, but got {value!r} instead."


def from_validation_error(error: ValidationError, source: str, kind: str = "policy") -> PolicyError:
    """One :class:`PolicyError` listing every problem pydantic found, one per line (``kind``: what the file is)."""
    problems = [_describe(e) for e in error.errors(include_url=False)]
    return PolicyError(f"Invalid {kind} {source}: " + "\n  ".join(problems))
