"""Batched, per-sample, differentiable augmentation ops and their registry.

``OPS`` maps each op name to its :class:`OpSpec`. Every kernel takes float images ``[B, C, H, W]`` in [0, 1]
(C = 1 or 3) and per-sample physical values ``[B]``; :func:`apply_op` takes normalised magnitudes instead.
:func:`geometric_warp` runs a batch that mixes geometric ops in one warp, each sample by its own op.

Within the package, imports go one way: ``context``, ``affine``, ``gradients`` and ``images`` (which import
nothing of augmeta) <- ``warp`` <- ``registry`` <- ``color``, ``erase``, ``geometric`` <- this module.
"""

from __future__ import annotations

import torch

from augmeta.ops import color, erase, geometric  # noqa: F401  (registers the ops)
from augmeta.ops.context import KernelContext, device_constant
from augmeta.ops.geometric import geometric_warp
from augmeta.ops.images import as_float_batch, check_finite, check_float_batch, restore_layout
from augmeta.ops.registry import OPS, OpSpec, register_op
from augmeta.ops.warp import warp

__all__ = [
    "OPS",
    "KernelContext",
    "OpSpec",
    "apply_op",
    "as_float_batch",
    "check_finite",
    "check_float_batch",
    "device_constant",
    "geometric_warp",
    "register_op",
    "restore_layout",
    "warp",
]


def apply_op(
    name: str,
    images: torch.Tensor,
    magnitude: torch.Tensor | float,
    *,
    value_range: tuple[float, float] | None = None,
    sign: torch.Tensor | None = None,
    context: KernelContext | None = None,
) -> torch.Tensor:
    """Apply op ``name`` to every image with its own magnitude.

    Args:
        name: a key of :data:`OPS`.
        images: float ``[B, C, H, W]`` in [0, 1], C = 1 or 3, finite; not modified.
        magnitude: ``[B]`` (or a float for all) normalised magnitudes in [0, 1] (others are a ValueError); 0 is the
            identity, 1 the end of ``value_range``. Gradients flow to it as ``OPS[name].gradient`` says.
        value_range: physical ``(lo, hi)``; defaults to the op's registered range.
        sign: optional ``[B]`` of +1/-1 that negates the value (for signed ops).
        context: fill, interpolation and cutout positions; defaults to fill 0, nearest.

    Returns:
        Float ``[B, C, H, W]`` of the same dtype and device.
    """
    spec = OPS[name]
    check_float_batch(images)
    check_finite(images)
    batch = images.shape[0]
    magnitude = torch.as_tensor(magnitude, dtype=images.dtype, device=images.device)
    if magnitude.dim() == 0:
        magnitude = magnitude.expand(batch)
    if magnitude.shape != (batch,):
        raise ValueError(f"`magnitude` should have shape [{batch}], but got shape {tuple(magnitude.shape)} instead.")
    outside = ~((magnitude >= 0) & (magnitude <= 1))  # NaN is outside too
    if bool(outside.any()):
        shown = magnitude[outside][0].item()
        raise ValueError(
            f"`magnitude` should be normalised magnitudes in [0, 1] (the op's range gives the physical value), but got "
            f"{int(outside.sum())} outside it (for example {shown!r}) instead."
        )
    value = spec.value(magnitude, value_range, sign)
    return spec.kernel(images, value, context or KernelContext())
