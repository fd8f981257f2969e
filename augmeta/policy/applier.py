"""Apply per-sample draws to a batch: each image runs only the op it drew.

Three paths with one semantics: *grouped* (here), *masked* (:mod:`augmeta.policy.masked`, fixed shapes, no host
sync, every offered op on the whole batch) and *compiled* (:mod:`augmeta.policy.captured`, the masked step under
``torch.compile``: a few fused kernels instead of one or more per op, the same images bit for bit; opt-in, as its
gain on a GPU is not measured yet). ``path="auto"`` takes the masked one on accelerators, where a step is bound by
kernel launches, and the grouped one on the CPU, where it is bound by arithmetic.

Grouped: samples are grouped by op (one sort and one host read of the group sizes per step); all geometric ops of a step
share one affine warp, whose matrices come from one lookup of the ops' closed forms, so a step costs one warp plus
one call per photometric op present in the batch. Only erasing ops get the patch positions (``context.position``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch

from augmeta.ops import OPS, KernelContext, device_constant, geometric_warp
from augmeta.policy.captured import apply_step_captured
from augmeta.policy.masked import apply_step_masked
from augmeta.policy.sampler import OP_NAMES, Draws, StepDraw

__all__ = ["PATHS", "ApplyPath", "apply_draws", "apply_step"]

ApplyPath = Literal["auto", "grouped", "masked", "compiled"]
#: The ways to apply a step (module docstring).
PATHS: tuple[str, ...] = ("auto", "grouped", "masked", "compiled")

_GEOMETRIC = tuple(i for i, name in enumerate(OP_NAMES) if OPS[name].kind == "geometric")
_IDENTITY = OP_NAMES.index("identity")
_WARP_GROUP = len(OP_NAMES)  # group id shared by all geometric ops


def _masked(path: str, images: torch.Tensor) -> bool:
    if path not in PATHS:
        raise ValueError(f"`path` should be one of {list(PATHS)}, but got {path!r} instead.")
    return path in ("masked", "compiled") or (path == "auto" and images.device.type != "cpu")


def apply_step(
    images: torch.Tensor,
    step: StepDraw,
    fill: tuple[float, ...],
    interpolation: str,
    inplace: bool = False,
    *,
    ops: Iterable[str] | None = None,
    path: ApplyPath = "auto",
) -> torch.Tensor:
    """Apply one step's draws to float ``[B, C, H, W]`` images.

    Args:
        ops: the ops the draws can hold (a policy's or a controller's op set; ``None``: any registered op); the
            masked path runs one pass for each of them, so a smaller set costs fewer.
        path: ``grouped``, ``masked``, ``compiled`` or ``auto`` (module docstring); the result is the same.

    Returns a new tensor, or (grouped path only) ``images`` itself updated when ``inplace`` (for batches the caller
    owns).
    """
    if _masked(path, images):
        apply = apply_step_captured if path == "compiled" else apply_step_masked
        return apply(images, step, fill, interpolation, ops)
    op_counts = torch.bincount(step.op, minlength=len(OP_NAMES)).tolist()  # the one host sync of a step
    geometric = torch.isin(step.op, device_constant(_GEOMETRIC, torch.long, step.op.device))
    group = torch.where(geometric, _WARP_GROUP, step.op)
    order = torch.argsort(group, stable=True)
    counts = [0 if index in _GEOMETRIC else count for index, count in enumerate(op_counts)]
    counts.append(sum(op_counts[index] for index in _GEOMETRIC))
    out = images if inplace else images.clone()
    if counts[_IDENTITY] == images.shape[0]:
        return out
    context = KernelContext(fill=fill, interpolation=interpolation)
    erase_context = KernelContext(fill=fill, interpolation=interpolation, position=step.position)
    start = 0
    for group_id, count in enumerate(counts):
        index = order[start : start + count]
        start += count
        if count == 0 or group_id == _IDENTITY:
            continue
        chunk, value = images.index_select(0, index), step.value.index_select(0, index)
        if group_id == _WARP_GROUP:  # every sample warped by its own op, whichever geometric op it drew
            piece = geometric_warp(chunk, OP_NAMES, step.op.index_select(0, index), value, context)
        else:
            spec = OPS[OP_NAMES[group_id]]
            piece = spec.kernel(chunk, value, erase_context.subset(index) if spec.kind == "erase" else context)
        out.index_copy_(0, index, piece)
    return out


def apply_draws(
    images: torch.Tensor,
    draws: Draws,
    fill: tuple[float, ...] = (0.0,),
    interpolation: str = "nearest",
    inplace: bool = False,
    *,
    ops: Iterable[str] | None = None,
    path: ApplyPath = "auto",
) -> torch.Tensor:
    """Apply every step of ``draws`` to float ``[B, C, H, W]`` images in [0, 1].

    ``images`` is not modified unless ``inplace`` (a batch the caller owns); later steps always work in place on
    augmeta's own copy unless autograd needs the intermediate images. ``ops`` and ``path``: as for
    :func:`apply_step`.
    """
    out = images
    for number, step in enumerate(draws.steps):
        owned = inplace or number > 0  # `out` is a batch we may overwrite
        out = apply_step(out, step, fill, interpolation, inplace=owned and not out.requires_grad, ops=ops, path=path)
    return out
