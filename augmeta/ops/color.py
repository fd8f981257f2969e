"""Photometric ops on float images in [0, 1], matching ``torchvision.transforms.v2.functional``.

Enhance ops (brightness, color, contrast, sharpness) take the offset ``v`` of the enhance factor ``f = 1 + v``
(v = 0 is the identity), as torchvision's AutoAugment does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as nnf

from augmeta.ops.context import KernelContext, as_dtype, cached_tensor
from augmeta.ops.gradients import detached, straight_through
from augmeta.ops.registry import register_op

__all__ = ["blend_towards", "greyscale"]

_GREY_WEIGHTS = (0.2989, 0.587, 0.114)


def _enhance_op(name: str):
    """Register an enhance op: value v is the offset of the enhance factor 1 + v (0 is the identity)."""
    return register_op(
        name, kind="color", default_range=(0.0, 0.9), signed=True, gradient="exact", unit="factor - 1",
        limits=(-1.0, 4.0),
    )  # fmt: skip


def _per_sample(value: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return as_dtype(value, images.dtype).view(-1, 1, 1, 1)


def blend_towards(images: torch.Tensor, degenerate: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """PIL's ImageEnhance blend ``clamp(f * images + (1 - f) * degenerate)`` with the enhance factor ``f = 1 + value``
    per sample; ``degenerate`` broadcasts to ``images`` (0 gives brightness, the grey mean contrast, the grey image
    color)."""
    factor = 1.0 + _per_sample(value, images)
    return (factor * images + (1.0 - factor) * degenerate).clamp(0.0, 1.0)


def greyscale(images: torch.Tensor) -> torch.Tensor:
    """``[B, 1, H, W]`` luma of RGB images (ITU-R 601-2, as PIL and torchvision); one-channel images as they are."""
    if images.shape[1] == 1:
        return images
    r, g, b = images.unbind(dim=1)
    return (_GREY_WEIGHTS[0] * r + _GREY_WEIGHTS[1] * g + _GREY_WEIGHTS[2] * b).unsqueeze(1)


@register_op("identity", kind="identity", default_range=None, signed=False, gradient="none", unit="none")
def identity(images: torch.Tensor, value: torch.Tensor, context: KernelContext) -> torch.Tensor:
    return images


@_enhance_op("brightness")
def brightness(images: torch.Tensor, value: torch.Tensor, context: KernelContext) -> torch.Tensor:
    return (images * (1.0 + _per_sample(value, images))).clamp(0.0, 1.0)


@_enhance_op("color")
def color(images: torch.Tensor, value: torch.Tensor, context: KernelContext) -> torch.Tensor:
    """Saturation; a single-channel image has none and is returned as it is."""
    if images.shape[1] == 1:
        return images
    return blend_towards(images, greyscale(images), value)


@_enhance_op("contrast")
def contrast(images: torch.Tensor, value: torch.Tensor, context: KernelContext) -> torch.Tensor:
    mean = greyscale(images).mean(dim=(1, 2, 3), keepdim=True)
    return blend_towards(images, mean, value)


@_enhance_op("sharpness")
def sharpness(images: torch.Tensor, value: torch.Tensor, context: KernelContext) -> torch.Tensor:
    """Blend with a 3x3 smoothed image (PIL's SMOOTH kernel); the one-pixel border is kept, as in torchvision."""
    height, width = images.shape[-2:]
    if height <= 2 or width <= 2:
        return images
    # PIL's SMOOTH kernel: 1 around, 5 in the middle, over 13 = (9 * 3x3 mean + 4 * centre) / 13
    inner = images[..., 1:-1, 1:-1]
    rows = images[..., :-2] + images[..., 1:-1] + images[..., 2:]
    box = rows[..., :-2, :] + rows[..., 1:-1, :] + rows[..., 2:, :]
    smooth = (box + 4.0 * inner) / 13.0
    factor = 1.0 + _per_sample(value, images)
    sharpened = inner + (1.0 - factor) * (smooth - inner)
    return nnf.pad(sharpened, (1, 1, 1, 1)).where(_interior_mask(images), images).clamp(0.0, 1.0)


def _interior_mask(images: torch.Tensor) -> torch.Tensor:
    height, width = images.shape[-2:]
    return cached_tensor(
        ("interior_mask", height, width, images.device), lambda: _make_interior_mask(height, width, images.device)
    )


def _make_interior_mask(height: int, width: int, device: torch.device) -> torch.Tensor:
    mask = torch.zeros(height, width, dtype=torch.bool, device=device)
    mask[1:-1, 1:-1] = True
    return mask


@register_op(
    "solarize",
    kind="color",
    default_range=(1.0, 0.0),
    signed=False,
    gradient="straight_through",
    unit="threshold, fraction of full scale",
    limits=(0.0, 1.0),
)
def solarize(images: torch.Tensor, value: torch.Tensor, context: KernelContext) -> torch.Tensor:
    """Invert pixels ``>= threshold``; threshold 1.0 inverts only pure white, as in the published policies."""
    hard = torch.where(images >= _per_sample(detached(value), images), 1.0 - images, images)
    return straight_through(hard, value)


@register_op(
    "posterize",
    kind="color",
    default_range=(8.0, 4.0),
    signed=False,
    gradient="straight_through",
    unit="bits kept",
    limits=(1.0, 8.0),
)
def posterize(images: torch.Tensor, value: torch.Tensor, context: KernelContext) -> torch.Tensor:
    """Keep ``round(value)`` bits of each 8-bit grey level (torchvision's uint8 semantics); 8 bits is the identity."""
    bits = _per_sample(detached(value), images).round().clamp(0.0, 8.0)
    step = torch.pow(2.0, 8.0 - bits)
    levels = (images * 255.0).round()
    hard = torch.where(bits >= 8.0, images, torch.floor(levels / step) * step / 255.0)
    return straight_through(hard, value)


@register_op("auto_contrast", kind="color", default_range=None, signed=False, gradient="none", unit="none")
def auto_contrast(images: torch.Tensor, value: torch.Tensor, context: KernelContext) -> torch.Tensor:
    low = images.amin(dim=(-2, -1), keepdim=True)
    high = images.amax(dim=(-2, -1), keepdim=True)
    flat = high == low
    low = torch.where(flat, torch.zeros_like(low), low)
    high = torch.where(flat, torch.ones_like(high), high)
    return ((images - low) / (high - low)).clamp(0.0, 1.0)


@register_op("equalize", kind="color", default_range=None, signed=False, gradient="none", unit="none")
def equalize(images: torch.Tensor, value: torch.Tensor, context: KernelContext) -> torch.Tensor:
    """Histogram equalisation per channel on 8-bit levels: torchvision's PIL-exact kernel (``F.equalize``), the same
    numbers in fewer dispatched ops (the lookup table padded rather than concatenated, one lookup of the largest
    level's count)."""
    images = detached(images)
    if images.numel() == 0:
        return images
    # torchvision's float -> uint8 conversion (through uint8: a half-precision 255.999 rounds to 256, which wraps)
    levels = images.mul(255.0 + 1.0 - 1e-3).to(torch.uint8).long().flatten(-2)
    hist = levels.new_zeros((*levels.shape[:-1], 256)).scatter_add_(-1, levels, _ones(levels))
    cumulative = hist.cumsum(dim=-1)
    # PIL: the pixels not at the image's largest level, in steps of 255; the largest level's count is the last
    # non-zero bin, where the cumulative histogram first reaches its maximum
    step = (levels.shape[-1] - hist.gather(-1, cumulative.argmax(dim=-1, keepdim=True))).div(255, rounding_mode="floor")
    lut = (cumulative[..., :-1] + step // 2).div(step.clamp(min=1), rounding_mode="floor").clamp(0, 255)
    equalized = nnf.pad(lut, (1, 0)).gather(-1, levels)  # level 0 maps to 0
    out = torch.where(step != 0, equalized, levels)  # an image of one level (step 0) stays as it is
    return out.view(images.shape).to(images.dtype).mul(1.0 / 255.0)


def _ones(like: torch.Tensor) -> torch.Tensor:
    """A one for every element of ``like`` (an expanded cached scalar: no memory per element)."""
    one = cached_tensor(("one", like.dtype, like.device), lambda: torch.ones((), dtype=like.dtype, device=like.device))
    return one.expand_as(like)


@register_op("invert", kind="color", default_range=None, signed=False, gradient="none", unit="none")
def invert(images: torch.Tensor, value: torch.Tensor, context: KernelContext) -> torch.Tensor:
    return 1.0 - images
