"""Geometric ops, each defined by its inverse affine matrix (torchvision's conventions, see :mod:`.warp`).

| op | physical value | torchvision equivalent |
|---|---|---|
| shear_x / shear_y | shear factor s, top-left anchor | ``F.affine(shear=[deg(atan s), 0], center=[0, 0])`` |
| translate_x / translate_y | shift as a fraction of the width / height | ``F.affine(translate=[v * W, 0])`` |
| rotate | degrees, counter-clockwise | ``F.rotate(angle)`` |
| flip_x | none | ``F.horizontal_flip`` |
"""

from __future__ import annotations

import torch

from augmeta.ops.registry import register_geometric_op
from augmeta.ops.warp import inverse_affine_matrix

__all__: list[str] = []


def _zeros(value: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(value)


def _top_left(height: int, width: int) -> tuple[float, float]:
    return (-0.5 * width, -0.5 * height)


@register_geometric_op("shear_x", default_range=(0.0, 0.3), signed=True, unit="shear factor", limits=(-2.0, 2.0))
def shear_x(value: torch.Tensor, height: int, width: int) -> torch.Tensor:
    z = _zeros(value)
    return inverse_affine_matrix(angle=z, translate=(z, z), shear_tan=(value, z), center=_top_left(height, width))


@register_geometric_op("shear_y", default_range=(0.0, 0.3), signed=True, unit="shear factor", limits=(-2.0, 2.0))
def shear_y(value: torch.Tensor, height: int, width: int) -> torch.Tensor:
    z = _zeros(value)
    return inverse_affine_matrix(angle=z, translate=(z, z), shear_tan=(z, value), center=_top_left(height, width))


@register_geometric_op(
    "translate_x", default_range=(0.0, 150.0 / 331.0), signed=True, unit="fraction of width", limits=(-1.0, 1.0)
)
def translate_x(value: torch.Tensor, height: int, width: int) -> torch.Tensor:
    z = _zeros(value)
    return inverse_affine_matrix(angle=z, translate=(value * width, z), shear_tan=(z, z))


@register_geometric_op(
    "translate_y", default_range=(0.0, 150.0 / 331.0), signed=True, unit="fraction of height", limits=(-1.0, 1.0)
)
def translate_y(value: torch.Tensor, height: int, width: int) -> torch.Tensor:
    z = _zeros(value)
    return inverse_affine_matrix(angle=z, translate=(z, value * height), shear_tan=(z, z))


@register_geometric_op(
    "rotate", default_range=(0.0, 30.0), signed=True, unit="degrees, counter-clockwise", limits=(-180.0, 180.0)
)
def rotate(value: torch.Tensor, height: int, width: int) -> torch.Tensor:
    z = _zeros(value)
    return inverse_affine_matrix(angle=-value, translate=(z, z), shear_tan=(z, z))


@register_geometric_op("flip_x", default_range=None, signed=False, unit="none")
def flip_x(value: torch.Tensor, height: int, width: int) -> torch.Tensor:
    theta = torch.zeros(value.shape[0], 2, 3, dtype=value.dtype, device=value.device)
    theta[:, 0, 0] = -1.0
    theta[:, 1, 1] = 1.0
    return theta
