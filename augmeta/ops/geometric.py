"""Geometric ops, each defined by its inverse affine matrix (torchvision's conventions, see :mod:`.warp`).

| op | physical value | torchvision equivalent |
|---|---|---|
| shear_x / shear_y | shear factor s, top-left anchor | ``F.affine(shear=[deg(atan s), 0], center=[0, 0])`` |
| translate_x / translate_y | shift as a fraction of the width / height | ``F.affine(translate=[v * W, 0])`` |
| rotate | degrees, counter-clockwise | ``F.rotate(angle)`` |
| flip_x | none | ``F.horizontal_flip`` |
"""

from __future__ import annotations

import math

import torch

from augmeta.ops.registry import register_geometric_op

__all__: list[str] = []


def _matrix(value: torch.Tensor, row0: tuple, row1: tuple) -> torch.Tensor:
    """Stack per-sample inverse matrices; entries are tensors like ``value`` or Python numbers."""
    one = torch.ones_like(value)
    entries = [entry if isinstance(entry, torch.Tensor) else one * entry for entry in (*row0, *row1)]
    return torch.stack(entries, dim=-1).view(-1, 2, 3)


# Closed forms of torchvision's ``_get_inverse_affine_matrix`` for one parameter at a time, in float64 like
# torchvision's Python floats (so nearest sampling breaks ties the same way).


@register_geometric_op("shear_x", default_range=(0.0, 0.3), signed=True, unit="shear factor", limits=(-2.0, 2.0))
def shear_x(value: torch.Tensor, height: int, width: int) -> torch.Tensor:
    s = value.double()
    return _matrix(s, (1.0, s, s * (0.5 * height)), (0.0, 1.0, 0.0))


@register_geometric_op("shear_y", default_range=(0.0, 0.3), signed=True, unit="shear factor", limits=(-2.0, 2.0))
def shear_y(value: torch.Tensor, height: int, width: int) -> torch.Tensor:
    s = value.double()
    return _matrix(s, (1.0, 0.0, 0.0), (s, 1.0, s * (0.5 * width)))


@register_geometric_op(
    "translate_x", default_range=(0.0, 150.0 / 331.0), signed=True, unit="fraction of width", limits=(-1.0, 1.0)
)
def translate_x(value: torch.Tensor, height: int, width: int) -> torch.Tensor:
    v = value.double()
    return _matrix(v, (1.0, 0.0, -v * width), (0.0, 1.0, 0.0))


@register_geometric_op(
    "translate_y", default_range=(0.0, 150.0 / 331.0), signed=True, unit="fraction of height", limits=(-1.0, 1.0)
)
def translate_y(value: torch.Tensor, height: int, width: int) -> torch.Tensor:
    v = value.double()
    return _matrix(v, (1.0, 0.0, 0.0), (0.0, 1.0, -v * height))


@register_geometric_op(
    "rotate", default_range=(0.0, 30.0), signed=True, unit="degrees, counter-clockwise", limits=(-180.0, 180.0)
)
def rotate(value: torch.Tensor, height: int, width: int) -> torch.Tensor:
    radians = value.double() * (-math.pi / 180.0)
    cos, sin = torch.cos(radians), torch.sin(radians)
    return _matrix(cos, (cos, sin, 0.0), (-sin, cos, 0.0))


@register_geometric_op("flip_x", default_range=None, signed=False, unit="none")
def flip_x(value: torch.Tensor, height: int, width: int) -> torch.Tensor:
    return _matrix(value.double(), (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
