"""Cutout: erase one square patch per image (DeVries & Taylor), clipped at the image border."""

from __future__ import annotations

import torch

from augmeta.ops.context import KernelContext, cached_tensor, device_constant
from augmeta.ops.gradients import detached, straight_through
from augmeta.ops.registry import register_op

__all__ = ["cutout_box"]


def cutout_box(value: torch.Tensor, position: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The patch each image loses, as ``[B, 4]`` integer ``(top, left, bottom, right)``, bottom/right exclusive.

    Args:
        value: ``[B]`` side of the square as a fraction of ``min(height, width)``.
        position: ``[B, 2]`` uniform numbers in [0, 1) that pick the centre pixel (row, column).
    """
    side = (detached(value).abs() * min(height, width)).round().long().unsqueeze(1)
    size = device_constant((height, width), position.dtype, position.device)
    centre = (
        (position * size)
        .long()
        .clamp(min=_long_constant((0, 0), position), max=_long_constant((height - 1, width - 1), position))
    )
    start = centre - side // 2  # rows and columns at once
    box = torch.cat([start, start + side], dim=1)
    low, high = _long_constant((0, 0, 0, 0), position), _long_constant((height, width, height, width), position)
    return box.clamp(min=low, max=high)


def _indices(size: int, device: torch.device) -> torch.Tensor:
    """``arange(size)`` on ``device``, made once (:func:`cached_tensor`)."""
    return cached_tensor(("arange", size, device), lambda: torch.arange(size, device=device))


def _long_constant(values: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    return device_constant(values, torch.long, like.device)


@register_op(
    "cutout",
    kind="erase",
    default_range=(0.0, 0.5),
    signed=False,
    gradient="straight_through",
    unit="side, fraction of the shorter edge",
    limits=(0.0, 1.0),
)
def cutout(images: torch.Tensor, value: torch.Tensor, context: KernelContext) -> torch.Tensor:
    """Fill a square of side ``value * min(H, W)`` pixels with the fill value; its centre comes from
    ``context.position`` (the centre pixel when no position is given)."""
    batch, _, height, width = images.shape
    position = context.position
    if position is None:
        position = torch.full((batch, 2), 0.5, dtype=images.dtype, device=images.device)
    top, left, bottom, right = cutout_box(value, position, height, width).view(-1, 4, 1).unbind(1)  # each [B, 1]
    rows, cols = _indices(height, images.device), _indices(width, images.device)
    in_rows = (rows >= top) & (rows < bottom)  # [B, H]
    in_cols = (cols >= left) & (cols < right)  # [B, W]
    inside = in_rows.view(batch, 1, height, 1) & in_cols.view(batch, 1, 1, width)
    hard = torch.where(inside, context.fill_tensor(images), images)
    return straight_through(hard, value)
