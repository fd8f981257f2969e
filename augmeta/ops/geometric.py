"""Geometric ops, each defined by its inverse affine matrix (torchvision's conventions, see :mod:`.warp`).

| op | physical value | torchvision equivalent |
|---|---|---|
| shear_x / shear_y | shear factor s, top-left anchor | ``F.affine(shear=[deg(atan s), 0], center=[0, 0])`` |
| translate_x / translate_y | shift as a fraction of the width / height | ``F.affine(translate=[v * W, 0])`` |
| rotate | degrees, counter-clockwise | ``F.rotate(angle)`` |
| flip_x | none | ``F.horizontal_flip`` |
| flip_y | none | ``F.vertical_flip`` |

:func:`geometric_warp` warps a batch that mixes them, each sample by its own op, in one warp.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from augmeta.ops.affine import FORM_WIDTH, AffineForm, inverse_matrices
from augmeta.ops.context import KernelContext, cached_tensor
from augmeta.ops.registry import OPS, register_geometric_op
from augmeta.ops.warp import warp

__all__ = ["geometric_warp"]


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


@register_geometric_op("flip_y", default_range=None, signed=False, unit="none")
def flip_y(height: int, width: int) -> AffineForm:
    return AffineForm(base=(1.0, 0.0, 0.0, 0.0, -1.0, 0.0))


def geometric_warp(
    images: torch.Tensor,
    names: Sequence[str],
    op: torch.Tensor,
    value: torch.Tensor,
    context: KernelContext | None = None,
) -> torch.Tensor:
    """Warp each image by its own geometric op and value, all in one warp, whichever geometric ops a batch mixes.

    Each sample's inverse matrix comes from its op's closed form (``OpSpec.affine_form``), looked up in a table of
    ``names`` made once per table, image size and device: bit for bit the matrix of that op's own
    ``inverse_affine``, so the batch comes out as :func:`warp` with those matrices would make it.

    Args:
        images: float ``[B, C, H, W]`` in [0, 1], C = 1 or 3 (float16/bfloat16 are warped in float32); not modified.
        names: op names that ``op`` indexes, e.g. a caller's own numbering of every op; names of ops that are not
            geometric may appear (their rows are zeros) but must not be picked by ``op``.
        op: long ``[B]`` on the images' device, each sample's index into ``names``; each must name a geometric op.
        value: ``[B]`` physical values (float of any dtype; matrices are computed in float64); gradients flow to it
            through the matrices (straight through a bilinear warp with nearest interpolation).
        context: fill and interpolation; defaults to fill 0, nearest.

    Returns:
        Float ``[B, C, H, W]`` of the images' dtype and device; areas outside the source get ``context.fill``.
    """
    height, width = images.shape[-2], images.shape[-1]
    forms = _affine_forms(tuple(names), height, width, images.device)
    theta = inverse_matrices(forms.index_select(0, op), value)
    return warp(images, theta, context or KernelContext())


def _affine_forms(names: tuple[str, ...], height: int, width: int, device: torch.device) -> torch.Tensor:
    """``[len(names), FORM_WIDTH]`` float64: each named op's :class:`AffineForm` at this size (zeros for ops that are
    not geometric), made once per names, size and device (:func:`cached_tensor`)."""
    return cached_tensor(
        ("affine_forms", names, height, width, device), lambda: _make_affine_forms(names, height, width, device)
    )


def _make_affine_forms(names: tuple[str, ...], height: int, width: int, device: torch.device) -> torch.Tensor:
    rows = [OPS[name].affine_form(height, width).row() if OPS[name].kind == "geometric" else (0.0,) * FORM_WIDTH
            for name in names]  # fmt: skip
    return torch.tensor(rows, dtype=torch.float64, device=device)
