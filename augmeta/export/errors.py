"""The error of an export that cannot be exact, and the warning of one that is only approximate."""

from __future__ import annotations

import warnings

__all__ = ["Approximations", "ExportError", "Refusal", "Refusals"]


class ExportError(ValueError):
    """A policy (or a file) that a target library cannot express; the message names the field path and why."""


class Refusal(Exception):
    """Raised by an op builder that cannot express a value; the exporter adds the field path."""


class Refusals:
    """Collects what an exporter cannot express, so that one :class:`ExportError` lists every field at once."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.problems: list[str] = []

    def add(self, op: str, path: str, refusal: Refusal) -> None:
        """Note the refusal of the op choice at ``path`` (its first only: one line per field)."""
        if not any(problem.startswith(f"`{path}`") for problem in self.problems):
            self.problems.append(f"`{path}` (op {op!r}) cannot be {self.target}: {refusal}.")

    def raise_any(self) -> None:
        if len(self.problems) == 1:
            raise ExportError(self.problems[0])
        if self.problems:
            listed = "".join(f"\n  - {problem}" for problem in self.problems)
            raise ExportError(f"{len(self.problems)} op choices cannot be exported:{listed}")


class Approximations:
    """Collects the ops an exporter writes only approximately; :meth:`warn` says all of them in one warning."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._reasons: dict[tuple[str, str], list[str]] = {}

    def add(self, op: str, reason: str, path: str) -> None:
        paths = self._reasons.setdefault((op, reason), [])
        if path not in paths:
            paths.append(path)

    def quantized(self, op: str, levels: int, path: str, taker: str) -> None:
        """Note that the choice at ``path`` draws its uniform magnitude from ``levels`` fixed values, because
        ``taker`` (the target's transform) takes one value."""
        reason = (
            f"its uniform magnitude is drawn from {levels} evenly spaced values of its interval ({taker} takes one "
            "value for it; `strict` refuses instead)"
        )
        self.add(op, reason, path)

    @property
    def fields(self) -> list[str]:
        """Every approximated field path, in the order first met."""
        return list(dict.fromkeys(path for paths in self._reasons.values() for path in paths))

    def warn(self, stacklevel: int = 3) -> None:
        if not self._reasons:
            return
        lines = []
        for (op, reason), paths in self._reasons.items():
            where = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            lines.append(f"{self.target} export of op {op!r} is approximate: {reason} (at {where}).")
        if len(lines) == 1:
            message = lines[0]
        else:
            listed = "".join(f"\n  - {line}" for line in lines)
            message = f"{self.target} export is approximate in {len(self.fields)} op choices:{listed}"
        warnings.warn(message, UserWarning, stacklevel=stacklevel)
