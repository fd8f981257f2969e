"""Checks and conversions at the boundary between users' images and the float kernels."""

from __future__ import annotations

import torch

__all__ = ["as_float_batch", "check_finite", "check_float_batch", "restore_layout"]


def check_float_batch(images: torch.Tensor, name: str = "images") -> None:
    """Raise ``ValueError``/``TypeError`` unless ``images`` is a float ``[B, C, H, W]`` batch with C in (1, 3)."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"`{name}` should be a torch.Tensor, but got {type(images).__name__} instead.")
    if not images.is_floating_point():
        raise TypeError(
            f"`{name}` should be a float tensor with values in [0, 1], but got dtype {images.dtype} instead."
        )
    if images.dim() != 4:
        raise ValueError(f"`{name}` should have shape [B, C, H, W], but got shape {tuple(images.shape)} instead.")
    if images.shape[1] not in (1, 3):
        raise ValueError(
            f"`{name}` should have 1 or 3 channels (dimension 1 of [B, C, H, W]), but got {images.shape[1]} "
            f"in shape {tuple(images.shape)} instead."
        )
    if images.shape[-1] < 1 or images.shape[-2] < 1:
        raise ValueError(
            f"`{name}` should be at least 1x1 pixels, but got shape {tuple(images.shape)} (H x W = "
            f"{images.shape[-2]}x{images.shape[-1]}) instead."
        )


def check_finite(images: torch.Tensor, name: str = "images") -> None:
    """Raise ``ValueError`` if a float batch holds NaN or infinite values (which ops that use an image's mean or
    histogram, such as ``contrast`` and ``auto_contrast``, would spread over the whole image). One host sync."""
    bad = int((~torch.isfinite(images)).sum())
    if bad:
        raise ValueError(
            f"`{name}` should hold finite values in [0, 1], but got {bad} NaN or infinite values in shape "
            f"{tuple(images.shape)} instead."
        )


def as_float_batch(images: torch.Tensor) -> tuple[torch.Tensor, torch.dtype, bool]:
    """Turn a uint8 or float image or batch into a float ``[B, C, H, W]`` batch in [0, 1] (a float one must be
    finite: :func:`check_finite`).

    Returns:
        ``(batch, original dtype, whether a batch dimension was added)``.
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"`images` should be a torch.Tensor, but got {type(images).__name__} instead.")
    if images.dim() not in (3, 4):
        raise ValueError(
            f"`images` should have shape [C, H, W] or [B, C, H, W], but got shape {tuple(images.shape)} instead."
        )
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise TypeError(
            f"`images` should be uint8 in [0, 255] or float in [0, 1], but got dtype {images.dtype} instead."
        )
    if images.shape[-3] not in (1, 3):
        raise ValueError(
            f"`images` should have 1 or 3 channels (dimension -3 of [C, H, W] or [B, C, H, W]), but got "
            f"{images.shape[-3]} in shape {tuple(images.shape)} instead."
        )
    added = images.dim() == 3
    batch = images.unsqueeze(0) if added else images
    original = batch.dtype
    batch = batch.to(torch.float32).mul_(1.0 / 255.0) if original == torch.uint8 else batch
    check_float_batch(batch)
    if original != torch.uint8:
        check_finite(batch)
    return batch, original, added


def restore_layout(batch: torch.Tensor, dtype: torch.dtype, added_batch_dim: bool) -> torch.Tensor:
    """Undo :func:`as_float_batch`: round back to uint8 when the input was uint8."""
    out = batch.mul(255.0).round_().clamp_(0, 255).to(torch.uint8) if dtype == torch.uint8 else batch.to(dtype)
    return out.squeeze(0) if added_batch_dim else out
