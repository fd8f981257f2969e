"""One batched affine warp shared by every geometric op, pixel-exact with torchvision's ``F.affine``.

Matrices follow torchvision: they map *output* pixel coordinates to *input* ones, in pixels, with the origin
at the image centre (``x`` to the right, ``y`` down).
"""

from __future__ import annotations

import torch
import torch.nn.functional as nnf

from augmeta.ops.context import KernelContext, as_dtype, cached_tensor, device_constant

__all__ = ["warp"]


def _sampling_grid(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """torchvision's ``_affine_grid`` for a batch of matrices: ``[B, 2, 3]`` -> ``[B, H, W, 2]``."""
    dtype, device = torch.float32 if theta.dtype == torch.float64 else theta.dtype, theta.device
    base = cached_tensor(
        ("affine_grid_base", height, width, dtype, device), lambda: _base_grid(height, width, dtype, device)
    )
    scale = device_constant((0.5 * width, 0.5 * height), dtype, device)
    grid = base @ (as_dtype(theta, dtype).transpose(1, 2) / scale)
    return grid.reshape(-1, height, width, 2)


def _base_grid(height: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[1, H * W, 3]``: each output pixel's centred ``(x, y, 1)``."""
    xs = torch.linspace(-width * 0.5 + 0.5, width * 0.5 - 0.5, width, dtype=dtype, device=device)
    ys = torch.linspace(-height * 0.5 + 0.5, height * 0.5 - 0.5, height, dtype=dtype, device=device)
    ones = torch.ones(height, width, dtype=dtype, device=device)
    return torch.stack([xs.expand(height, width), ys[:, None].expand(height, width), ones], dim=-1).reshape(
        1, height * width, 3
    )


def _sample(images: torch.Tensor, grid: torch.Tensor, mode: str, fill: torch.Tensor | None) -> torch.Tensor:
    if fill is None:
        return nnf.grid_sample(images, grid, mode=mode, padding_mode="zeros", align_corners=False)
    ones = torch.ones_like(images[:, :1])
    sampled = nnf.grid_sample(
        torch.cat([images, ones], dim=1), grid, mode=mode, padding_mode="zeros", align_corners=False
    )
    out, mask = sampled[:, :-1], sampled[:, -1:]
    if mode == "nearest":
        return torch.where(mask < 0.5, fill, out)
    return (out - fill) * mask + fill


def warp(images: torch.Tensor, theta: torch.Tensor, context: KernelContext) -> torch.Tensor:
    """Warp each image by its own inverse affine matrix.

    Args:
        images: ``[B, C, H, W]`` float in [0, 1].
        theta: ``[B, 2, 3]`` inverse matrices (``OpSpec.inverse_affine`` of the geometric ops).
        context: fill and interpolation. With ``nearest`` and a matrix that requires grad, the gradient is taken
            straight through a bilinear warp of the same matrix.

    Returns:
        ``[B, C, H, W]``, same dtype and device; areas outside the source get ``context.fill``.
    """
    if images.dtype in (torch.float16, torch.bfloat16):
        return warp(images.float(), theta, context).to(images.dtype)
    with torch.autocast(images.device.type, enabled=False):  # a bf16 grid would be off by a tenth of a pixel
        grid = as_dtype(_sampling_grid(theta, images.shape[-2], images.shape[-1]), images.dtype)
    fill = context.fill_tensor(images)  # checks the fill against the channels, whatever its value
    fill = None if context.fills_with_zero(images.dtype) else fill
    out = _sample(images, grid, context.interpolation, fill)
    if context.interpolation == "nearest" and grid.requires_grad:
        smooth = _sample(images, grid, "bilinear", fill)
        out = out.detach() + (smooth - smooth.detach())
    return out
