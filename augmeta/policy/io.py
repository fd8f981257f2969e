"""Reading policy files: JSON (NaN and Infinity rejected) or YAML (``safe_load`` only); nothing is executed."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from augmeta.policy.errors import PolicyError
from augmeta.policy.policy import Policy

__all__ = ["load_policy", "parse_policy_text"]


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid number in a policy file")


def parse_policy_text(text: str, source: str, yaml_format: bool = False) -> Any:
    """Parse the text of a policy file into plain data; syntax errors become :class:`PolicyError`."""
    try:
        if yaml_format:
            import yaml

            return yaml.safe_load(text)
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as error:  # json.JSONDecodeError is a ValueError
        raise PolicyError(f"Invalid policy {source}: not valid JSON ({error}).") from None
    except Exception as error:  # yaml.YAMLError
        raise PolicyError(f"Invalid policy {source}: not valid YAML ({error}).") from None


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Load and strictly validate a policy file (``.json``, or ``.yaml``/``.yml``).

    Raises:
        PolicyError: the file is missing, unparsable, or breaks a rule of the format; the message names the
            field path, the value and what was expected.
    """
    path = Path(path)
    source = f"file {str(path)!r}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"Policy file {str(path)!r} does not exist.") from None
    except IsADirectoryError:
        raise PolicyError(f"Policy file {str(path)!r} is a directory; expected a .json or .yaml file.") from None
    except UnicodeDecodeError as error:
        raise PolicyError(f"Invalid policy {source}: not UTF-8 text ({error}).") from None
    except OSError as error:
        raise PolicyError(f"Policy file {str(path)!r} cannot be read: {error.strerror}.") from None
    data = parse_policy_text(text, source, yaml_format=path.suffix.lower() in (".yaml", ".yml"))
    return Policy.from_dict(data, source)
