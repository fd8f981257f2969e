"""Cutout: erase one square patch per image (DeVries & Taylor), clipped at the image border."""

from __future__ import annotations

import torch

from augmeta.ops.context import KernelContext, device_constant
from augmeta.ops.gradients import straight_through
from augmeta.ops.registry import register_op

__all__ = ["cutout_box"]


def cutout_box(value: torch.Tensor, position: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The patch each image loses, as ``[B, 4]`` integer ``(top, left, bottom, right)``, bottom/right exclusive.

    Args:
        value: ``[B]`` side of the square as a fraction of ``min(height, width)``.
        position: ``[B, 2]`` uniform numbers in [0, 1) that pick the centre pixel (row, column).
    """
    side = ((value.detach() if value.requires_grad else value).abs() * min(height, width)).round().long().unsqueeze(1)
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
    box = cutout_box(value, position, height, width)
    rows = torch.arange(height, device=images.device)
    cols = torch.arange(width, device=images.device)
    in_rows = (rows >= box[:, 0:1]) & (rows < box[:, 2:3])  # [B, H]
    in_cols = (cols >= box[:, 1:2]) & (cols < box[:, 3:4])  # [B, W]
    inside = (in_rows[:, :, None] & in_cols[:, None, :]).unsqueeze(1)
    hard = torch.where(inside, context.fill_tensor(images), images)
    return straight_through(hard, value)
