"""Apply per-sample draws to a batch: each image runs only the op it drew.

Samples are grouped by op (one sort and one host read of the group sizes per step); all geometric ops of a step
share one affine warp, so a step costs one warp plus one call per photometric op present in the batch.
"""

from __future__ import annotations

import torch

from augmeta.ops import OPS, KernelContext, warp
from augmeta.policy.sampler import OP_NAMES, Draws, StepDraw

__all__ = ["apply_draws", "apply_step"]

_GEOMETRIC = tuple(i for i, name in enumerate(OP_NAMES) if OPS[name].kind == "geometric")
_IDENTITY = OP_NAMES.index("identity")
_WARP_GROUP = len(OP_NAMES)  # group id shared by all geometric ops


def _inverse_affine(step: StepDraw, height: int, width: int) -> torch.Tensor:
    theta = None
    for index in _GEOMETRIC:
        spec = OPS[OP_NAMES[index]]
        matrix = spec.inverse_affine(step.value, height, width)
        theta = matrix if theta is None else torch.where((step.op == index).view(-1, 1, 1), matrix, theta)
    return theta


def apply_step(images: torch.Tensor, step: StepDraw, fill: tuple[float, ...], interpolation: str) -> torch.Tensor:
    """Apply one step's draws to float ``[B, C, H, W]`` images; returns a new tensor."""
    group = step.op.clone()
    geometric = torch.isin(step.op, torch.tensor(_GEOMETRIC, device=step.op.device))
    group = torch.where(geometric, _WARP_GROUP, group)
    order = torch.argsort(group, stable=True)
    counts = torch.bincount(group, minlength=_WARP_GROUP + 1).tolist()
    context = KernelContext(fill=fill, interpolation=interpolation, position=step.position)
    pieces, start = [], 0
    for group_id, count in enumerate(counts):
        if count == 0:
            continue
        index = order[start : start + count]
        start += count
        chunk = images.index_select(0, index)
        if group_id == _IDENTITY:
            pieces.append(chunk)
        elif group_id == _WARP_GROUP:
            part = step.select(index)
            theta = _inverse_affine(part, images.shape[-2], images.shape[-1])
            pieces.append(warp(chunk, theta, context.subset(index)))
        else:
            spec = OPS[OP_NAMES[group_id]]
            pieces.append(spec.kernel(chunk, step.value.index_select(0, index), context.subset(index)))
    if len(pieces) == 1 and counts[_IDENTITY] == images.shape[0]:
        return images.clone()
    return torch.cat(pieces).index_select(0, torch.argsort(order))


def apply_draws(
    images: torch.Tensor, draws: Draws, fill: tuple[float, ...] = (0.0,), interpolation: str = "nearest"
) -> torch.Tensor:
    """Apply every step of ``draws`` to float ``[B, C, H, W]`` images in [0, 1]; ``images`` is not modified."""
    out = images
    for step in draws.steps:
        out = apply_step(out, step, fill, interpolation)
    return out
