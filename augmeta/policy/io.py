"""Reading policy files: JSON (NaN, Infinity and repeated keys rejected) or YAML (``safe_load`` only, no aliases);
nothing is executed, and a file larger than :data:`MAX_FILE_BYTES` is refused before it is parsed."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from augmeta.policy.errors import PolicyError
from augmeta.policy.policy import Policy

__all__ = ["MAX_FILE_BYTES", "load_policy", "parse_policy_text", "read_text_file"]

#: The largest policy (or meta-tree) file read: the biggest published policy is a few kilobytes.
MAX_FILE_BYTES = 2 * 2**20
#: The deepest nesting parsed (a policy file is 6 levels deep).
MAX_DEPTH = 32


class _Rejected(ValueError):
    """A JSON value the format does not allow, with where it is."""


def _reject_constant(name: str) -> float:
    raise _Rejected(f"{name} is not a valid number in JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise _Rejected(f"the key {repeated[0]!r} appears more than once in one object")
    return dict(pairs)


def _line_of(text: str, needle: str) -> str:
    index = text.find(needle)
    return "" if index < 0 else f" (line {text.count(chr(10), 0, index) + 1})"


_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
_BRACKET = re.compile(r"[\[\]{}]")


def _depth(text: str) -> int:
    """The deepest bracket nesting of JSON (or flow-style YAML) text, strings skipped; cheap and never recursive."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def parse_policy_text(text: str, source: str, yaml_format: bool = False, kind: str = "policy") -> Any:
    """Parse the text of a policy (or ``kind``) file into plain data; syntax errors become :class:`PolicyError`
    naming the line where they can, and no alias, repeated key, NaN or deep nesting gets through."""
    if len(text) > MAX_FILE_BYTES:
        raise PolicyError(f"Invalid {kind} {source}: {len(text)} characters, more than the {MAX_FILE_BYTES} allowed.")
    if _depth(text) > MAX_DEPTH:
        raise PolicyError(f"Invalid {kind} {source}: nested more than {MAX_DEPTH} levels deep.")
    if yaml_format:
        return _parse_yaml(text, source, kind)
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except _Rejected as error:
        constant = str(error).split(" ", 1)[0]
        where = _line_of(text, constant) if "appears more than once" not in str(error) else ""
        raise PolicyError(f"Invalid {kind} {source}: {error}{where}.") from None
    except ValueError as error:  # json.JSONDecodeError is a ValueError, with the line and column
        raise PolicyError(f"Invalid {kind} {source}: not valid JSON ({error}).") from None


def _parse_yaml(text: str, source: str, kind: str) -> Any:
    """``yaml.safe_load`` after refusing aliases (a few bytes of them expand to gigabytes) and repeated keys."""
    import yaml

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1
                raise PolicyError(
                    f"Invalid {kind} {source}: YAML aliases (*{event.anchor}, line {line}) are not allowed."
                )
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        _check_yaml_keys(node, source, kind)
        return yaml.safe_load(text)
    except PolicyError:
        raise
    except Exception as error:  # yaml.YAMLError
        raise PolicyError(f"Invalid {kind} {source}: not valid YAML ({error}).") from None


def _check_yaml_keys(node: Any, source: str, kind: str) -> None:
    import yaml

    stack = [node]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            keys = [key.value for key, _ in node.value]
            repeated = sorted({key for key in keys if keys.count(key) > 1})
            if repeated:
                line = node.start_mark.line + 1
                raise PolicyError(
                    f"Invalid {kind} {source}: the key {repeated[0]!r} appears more than once in one mapping "
                    f"(the mapping at line {line})."
                )
            stack += [value for _, value in node.value]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value


def read_text_file(path: Path, kind: str, expected: str) -> str:
    """The UTF-8 text of a ``kind`` file (``policy``, ``meta-tree``); :class:`PolicyError` when it is missing, a
    folder (``expected`` says what was), a pipe or a device, larger than :data:`MAX_FILE_BYTES` or unreadable."""
    source, name = f"file {str(path)!r}", f"{kind[0].upper()}{kind[1:]} file {str(path)!r}"
    try:
        if path.is_file() and path.stat().st_size > MAX_FILE_BYTES:
            raise PolicyError(
                f"Invalid {kind} {source}: {path.stat().st_size} bytes, more than the {MAX_FILE_BYTES} allowed."
            )
        if path.exists() and not path.is_file() and not path.is_dir():
            raise PolicyError(f"{name} is not a regular file (a device or a pipe).")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{name} does not exist.") from None
    except IsADirectoryError:
        raise PolicyError(f"{name} is a directory; expected {expected}.") from None
    except UnicodeDecodeError as error:
        raise PolicyError(f"Invalid {kind} {source}: not UTF-8 text ({error}).") from None
    except OSError as error:
        raise PolicyError(f"{name} cannot be read: {error.strerror}.") from None


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Load and strictly validate a policy file (``.json``, or ``.yaml``/``.yml``).

    Raises:
        PolicyError: the file is missing, unparsable, or breaks a rule of the format; the message names the
            field path, the value and what was expected.
    """
    path = Path(path)
    source = f"file {str(path)!r}"
    text = read_text_file(path, "policy", "a .json or .yaml file")
    data = parse_policy_text(text, source, yaml_format=path.suffix.lower() in (".yaml", ".yml"))
    return Policy.from_dict(data, source)
