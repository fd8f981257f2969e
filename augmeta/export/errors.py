"""The error of an export that cannot be exact, and the warning of one that is only approximate."""

from __future__ import annotations

import warnings

__all__ = ["Approximations", "ExportError", "Refusal"]


class ExportError(ValueError):
    """A policy (or a file) that a target library cannot express; the message names the field path and why."""


class Refusal(Exception):
    """Raised by an op builder that cannot express a value; the exporter adds the field path."""


class Approximations:
    """Collects the ops an exporter writes only approximately and warns once per op and reason."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._reasons: dict[tuple[str, str], list[str]] = {}

    def add(self, op: str, reason: str, path: str) -> None:
        self._reasons.setdefault((op, reason), []).append(path)

    def warn(self, stacklevel: int = 3) -> None:
        for (op, reason), paths in self._reasons.items():
            where = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            message = f"{self.target} export of op {op!r} is approximate: {reason} (at {where})."
            warnings.warn(message, UserWarning, stacklevel=stacklevel)
