"""Cutout: erase one square patch per image (DeVries & Taylor), clipped at the image border."""

from __future__ import annotations

import torch

from augmeta.ops.gradients import straight_through
from augmeta.ops.registry import KernelContext, register_op

__all__ = ["cutout_box"]


def cutout_box(value: torch.Tensor, position: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The patch each image loses, as ``[B, 4]`` integer ``(top, left, bottom, right)``, bottom/right exclusive.

    Args:
        value: ``[B]`` side of the square as a fraction of ``min(height, width)``.
        position: ``[B, 2]`` uniform numbers in [0, 1) that pick the centre pixel (row, column).
    """
    side = (value.detach().abs() * min(height, width)).round().long()
    centre_row = (position[:, 0] * height).long().clamp(0, height - 1)
    centre_col = (position[:, 1] * width).long().clamp(0, width - 1)
    top, left = centre_row - side // 2, centre_col - side // 2
    bottom, right = top + side, left + side
    return torch.stack(
        [top.clamp(0, height), left.clamp(0, width), bottom.clamp(0, height), right.clamp(0, width)], dim=1
    )


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
    rows = torch.arange(height, device=images.device).view(1, height, 1)
    cols = torch.arange(width, device=images.device).view(1, 1, width)
    inside = (
        (rows >= box[:, 0].view(-1, 1, 1))
        & (rows < box[:, 2].view(-1, 1, 1))
        & (cols >= box[:, 1].view(-1, 1, 1))
        & (cols < box[:, 3].view(-1, 1, 1))
    ).unsqueeze(1)
    hard = torch.where(inside, context.fill_tensor(images), images)
    return straight_through(hard, value)
