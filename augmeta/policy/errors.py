"""The one error type of policy files, and how pydantic's errors are worded for people."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["MAX_SHOWN", "PolicyError", "field_path", "from_validation_error", "shown", "validated"]


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


#: The most characters of a value a message shows (a huge value is cut, with how long it was).
MAX_SHOWN = 200


class _Shown:
    """A value as a message shows it: its ``repr``, cut to :data:`MAX_SHOWN` characters."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return shown(self.value)


def shown(value: Any) -> str:
    """``repr(value)``, cut to :data:`MAX_SHOWN` characters (a container is cut before it is printed whole)."""
    if isinstance(value, (list, tuple, dict, set)) and len(value) > MAX_SHOWN:
        return f"<{type(value).__name__} of {len(value)} items>"
    text = repr(value)
    if len(text) > MAX_SHOWN:
        return f"{text[:MAX_SHOWN]}... ({len(text)} characters)"
    return text


def _describe(error: dict[str, Any]) -> str:
    path = field_path(error["loc"])
    kind, value = error["type"], _Shown(error.get("input"))
    if kind == "missing":
        return f"`{path}` is required but missing."
    if kind == "extra_forbidden":
        return f"`{path}` is not a field of the policy format (got value {value!r}); remove it or check its spelling."
    message = error["msg"].removeprefix("Value error, ")
    if len(message) > 4 * MAX_SHOWN:  # a validator's own message quoting a huge value
        message = message[: 4 * MAX_SHOWN] + "..."
    if error["type"] == "value_error":
        return f"`{path}` {message}"
    message = message.replace("Input should", "should", 1)
    return f"`{path}` {message}, but got {value!r} instead."


def validated(model: type[BaseModel], data: Any, source: str, kind: str = "policy") -> Any:
    """``model`` validated from ``data`` (a parsed file); one :class:`PolicyError` naming each bad field."""
    if not isinstance(data, dict):
        raise PolicyError(f"Invalid {kind} {source}: the top level should be an object, but got {type(data).__name__}.")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise from_validation_error(error, source, kind) from None


def from_validation_error(error: ValidationError, source: str, kind: str = "policy") -> PolicyError:
    """One :class:`PolicyError` listing every problem pydantic found, one per line (``kind``: what the file is)."""
    problems = [_describe(e) for e in error.errors(include_url=False)]
    return PolicyError(f"Invalid {kind} {source}: " + "\n  ".join(problems))
