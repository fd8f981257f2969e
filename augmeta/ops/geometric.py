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

from augmeta.ops.affine import AffineForm
from augmeta.ops.registry import register_geometric_op

__all__: list[str] = []


# Closed forms of torchvision's ``_get_inverse_affine_matrix`` for one parameter at a time (entries a, b, c, d, e, f
# of [[a, b, c], [d, e, f]]), evaluated in float64 like torchvision's Python floats (so nearest sampling breaks ties
# the same way).

_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # the identity matrix's entries: shears and translations add to it


@register_geometric_op("shear_x", default_range=(0.0, 0.3), signed=True, unit="shear factor", limits=(-2.0, 2.0))
def shear_x(height: int, width: int) -> AffineForm:
    return AffineForm(base=_IDENTITY, linear=(0.0, 1.0, 0.5 * height, 0.0, 0.0, 0.0))


@register_geometric_op("shear_y", default_range=(0.0, 0.3), signed=True, unit="shear factor", limits=(-2.0, 2.0))
def shear_y(height: int, width: int) -> AffineForm:
    return AffineForm(base=_IDENTITY, linear=(0.0, 0.0, 0.0, 1.0, 0.0, 0.5 * width))


@register_geometric_op(
    "translate_x", default_range=(0.0, 150.0 / 331.0), signed=True, unit="fraction of width", limits=(-1.0, 1.0)
)
def translate_x(height: int, width: int) -> AffineForm:
    return AffineForm(base=_IDENTITY, linear=(0.0, 0.0, -float(width), 0.0, 0.0, 0.0))


@register_geometric_op(
    "translate_y", default_range=(0.0, 150.0 / 331.0), signed=True, unit="fraction of height", limits=(-1.0, 1.0)
)
def translate_y(height: int, width: int) -> AffineForm:
    return AffineForm(base=_IDENTITY, linear=(0.0, 0.0, 0.0, 0.0, 0.0, -float(height)))


@register_geometric_op(
    "rotate", default_range=(0.0, 30.0), signed=True, unit="degrees, counter-clockwise", limits=(-180.0, 180.0)
)
def rotate(height: int, width: int) -> AffineForm:
    # [[cos r, sin r, 0], [-sin r, cos r, 0]] with r = -v degrees in radians
    return AffineForm(
        base=(0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        cosine=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        sine=(0.0, 1.0, 0.0, -1.0, 0.0, 0.0),
        angle=-math.pi / 180.0,
    )


@register_geometric_op("flip_x", default_range=None, signed=False, unit="none")
def flip_x(height: int, width: int) -> AffineForm:
    return AffineForm(base=(-1.0, 0.0, 0.0, 0.0, 1.0, 0.0))
