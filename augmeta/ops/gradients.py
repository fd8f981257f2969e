"""Straight-through estimators for ops whose output is piecewise constant in the magnitude."""

from __future__ import annotations

import torch

__all__ = ["detached", "straight_through"]


def detached(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` without its graph: the same tensor when it has none (a detach is a dispatched op too)."""
    return tensor.detach() if tensor.requires_grad else tensor


def straight_through(hard: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Return ``hard`` unchanged, with d(output)/d(value) = 1 per pixel (Faster AutoAugment's estimator).

    Args:
        hard: ``[B, C, H, W]`` output of a non-differentiable kernel.
        value: ``[B]`` physical values the kernel was run with.
    """
    if not value.requires_grad:
        return hard
    delta = (value - value.detach()).to(hard.dtype)
    return hard + delta.view(-1, *([1] * (hard.dim() - 1)))
