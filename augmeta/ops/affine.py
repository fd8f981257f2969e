"""Inverse affine matrices of the geometric ops as closed forms in their value, batched over mixed ops.

Each geometric op's inverse matrix (torchvision's conventions, see :mod:`.warp`) is
``base + linear * v + cosine * cos(angle * v) + sine * sin(angle * v)``, entrywise over the six entries
``(a, b, c, d, e, f)`` of ``[[a, b, c], [d, e, f]]``, with coefficients that depend on the image size only. So one
table lookup and a few elementwise ops give every sample its own op's matrix, however many ops a batch mixes: a
policy step pays for one matrix computation instead of one per geometric op present.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from augmeta.ops.context import as_dtype

__all__ = ["AffineForm", "FORM_WIDTH", "inverse_matrices"]

Entries = tuple[float, float, float, float, float, float]
_ZERO: Entries = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

#: Numbers per form in a table row: four times six entries and the angle factor.
FORM_WIDTH = 25


@dataclass(frozen=True)
class AffineForm:
    """``theta(v) = base + linear * v + cosine * cos(angle * v) + sine * sin(angle * v)`` for one op and size."""

    base: Entries
    linear: Entries = _ZERO
    cosine: Entries = _ZERO
    sine: Entries = _ZERO
    angle: float = 0.0

    def row(self) -> tuple[float, ...]:
        """The form as :data:`FORM_WIDTH` numbers, the layout :func:`inverse_matrices` reads."""
        return (*self.base, *self.linear, *self.cosine, *self.sine, self.angle)


def inverse_matrices(rows: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """``[B, 2, 3]`` float64 inverse matrices from each sample's form ``rows[B, FORM_WIDTH]`` (float64) and its
    value ``[B]``; differentiable in ``value``.

    Computed in float64, like torchvision's Python floats, so that nearest sampling breaks ties the same way. Terms
    whose coefficient is 0 add exact zeros, so each op gets the same numbers as its own formula.
    """
    v = as_dtype(value, torch.float64).unsqueeze(1)
    base, linear, cosine, sine, angle = rows.split((6, 6, 6, 6, 1), dim=1)
    radians = v * angle
    return (base + linear * v + cosine * torch.cos(radians) + sine * torch.sin(radians)).view(-1, 2, 3)
