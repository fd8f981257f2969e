"""Shared checkers for the op tests: op groups, magnitude cases and torchvision references."""

from __future__ import annotations

import math

import pytest
import torch
from torchvision.transforms.v2 import functional as F

from augmeta.ops import OPS, KernelContext, apply_op
from augmeta.ops.erase import cutout_box

EXPECTED_OPS = frozenset(
    {
        "identity",
        "shear_x",
        "shear_y",
        "translate_x",
        "translate_y",
        "rotate",
        "auto_contrast",
        "equalize",
        "invert",
        "solarize",
        "posterize",
        "contrast",
        "color",
        "brightness",
        "sharpness",
        "cutout",
        "flip_x",
        "flip_y",
    }
)
GEOMETRIC_OPS = ("shear_x", "shear_y", "translate_x", "translate_y", "rotate", "flip_x", "flip_y")
UINT8_OPS = ("posterize", "equalize")  # defined on 8-bit levels: compared with torchvision's uint8 kernels
FLOAT_OPS = tuple(sorted(EXPECTED_OPS - set(GEOMETRIC_OPS) - set(UINT8_OPS) - {"cutout"}))

ALL_OPS = tuple(sorted(OPS))
MAGNITUDE_OPS = tuple(name for name in ALL_OPS if OPS[name].has_magnitude)
DIFFERENTIABLE_OPS = tuple(name for name in ALL_OPS if OPS[name].gradient != "none")
CONSTANT_OPS = tuple(name for name in ALL_OPS if OPS[name].gradient == "none")

MAGNITUDES = (0.0, 0.3, 0.7, 1.0)
IMAGE_FIXTURES = ("digits_images", "colour_images")
GEOMETRIC_ATOL = {"nearest": 1e-6, "bilinear": 1e-5}
COLOUR_ATOL = 1.0 / 255.0
INTERPOLATION_MODES = {"nearest": F.InterpolationMode.NEAREST, "bilinear": F.InterpolationMode.BILINEAR}


def magnitude_cases(names: tuple[str, ...], magnitudes: tuple[float, ...] = MAGNITUDES) -> list[object]:
    """``pytest.param(name, magnitude, sign)`` for each op: every magnitude, both signs for signed ops.

    A list, not a generator: pytest 9.2 deprecates non-collection iterables in ``parametrize``.
    """
    params = []
    for name in names:
        spec = OPS[name]
        if not spec.has_magnitude:
            params.append(pytest.param(name, 0.0, 1.0, id=name))
            continue
        for magnitude in magnitudes:
            for sign in (1.0, -1.0) if spec.signed else (1.0,):
                suffix = "-neg" if sign < 0 else ""
                params.append(pytest.param(name, magnitude, sign, id=f"{name}-m{magnitude}{suffix}"))
    return params


def physical_value(name: str, magnitude: float, sign: float = 1.0) -> float:
    """The physical value ``(lo + m * (hi - lo)) * sign`` as a Python float (0 for ops without a magnitude)."""
    spec = OPS[name]
    if spec.default_range is None:
        return 0.0
    lo, hi = spec.default_range
    return (lo + magnitude * (hi - lo)) * sign


def apply_uniform(
    name: str, images: torch.Tensor, magnitude: float, sign: float = 1.0, context: KernelContext | None = None
) -> torch.Tensor:
    """``apply_op`` with the same magnitude and sign for every image of the batch."""
    signs = torch.full((images.shape[0],), sign, dtype=images.dtype)
    return apply_op(name, images, magnitude, sign=signs, context=context)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    return (images * 255.0).round().to(torch.uint8)


def torchvision_geometric(
    name: str, images: torch.Tensor, value: float, interpolation: str, fill: tuple[float, ...]
) -> torch.Tensor:
    """torchvision's version of a geometric op; a zero fill is torchvision's default (``fill=None``)."""
    height, width = images.shape[-2:]
    mode = INTERPOLATION_MODES[interpolation]
    tv_fill = None if all(v == 0.0 for v in fill) else list(fill)
    common = {"scale": 1.0, "interpolation": mode, "fill": tv_fill}
    if name == "shear_x":
        shear = [math.degrees(math.atan(value)), 0.0]
        return F.affine(images, angle=0.0, translate=[0.0, 0.0], shear=shear, center=[0, 0], **common)
    if name == "shear_y":
        shear = [0.0, math.degrees(math.atan(value))]
        return F.affine(images, angle=0.0, translate=[0.0, 0.0], shear=shear, center=[0, 0], **common)
    if name == "translate_x":
        return F.affine(images, angle=0.0, translate=[value * width, 0.0], shear=[0.0, 0.0], **common)
    if name == "translate_y":
        return F.affine(images, angle=0.0, translate=[0.0, value * height], shear=[0.0, 0.0], **common)
    if name == "rotate":
        return F.rotate(images, value, interpolation=mode, fill=tv_fill)
    if name == "flip_x":
        return F.horizontal_flip(images)
    if name == "flip_y":
        return F.vertical_flip(images)
    raise AssertionError(f"no torchvision reference for geometric op {name!r}")


def torchvision_float(name: str, images: torch.Tensor, value: float) -> torch.Tensor:
    """torchvision's version of a photometric op on float images; enhance ops take the factor ``1 + value``."""
    references = {
        "identity": lambda: images.clone(),
        "auto_contrast": lambda: F.autocontrast(images),
        "invert": lambda: F.invert(images),
        "solarize": lambda: F.solarize(images, threshold=value),
        "brightness": lambda: F.adjust_brightness(images, 1.0 + value),
        "color": lambda: F.adjust_saturation(images, 1.0 + value),
        "contrast": lambda: F.adjust_contrast(images, 1.0 + value),
        "sharpness": lambda: F.adjust_sharpness(images, 1.0 + value),
    }
    return references[name]()


def torchvision_uint8(name: str, images: torch.Tensor, value: float) -> torch.Tensor:
    """torchvision's uint8 kernel for the ops defined on 8-bit levels."""
    if name == "posterize":
        return F.posterize(images, bits=round(value))
    if name == "equalize":
        return F.equalize(images)
    raise AssertionError(f"no uint8 torchvision reference for op {name!r}")


def torchvision_cutout(
    images: torch.Tensor, value: float, position: torch.Tensor, fill: tuple[float, ...]
) -> torch.Tensor:
    """``F.erase`` of each image on the box :func:`cutout_box` gives for it."""
    _, channels, height, width = images.shape
    values = torch.full((images.shape[0],), value, dtype=images.dtype)
    boxes = cutout_box(values, position, height, width).tolist()
    patch = torch.tensor(fill, dtype=images.dtype).view(-1, 1, 1).expand(channels, 1, 1)
    erased = [
        F.erase(image, top, left, bottom - top, right - left, patch)
        for image, (top, left, bottom, right) in zip(images, boxes, strict=True)
    ]
    return torch.stack(erased)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, atol: float) -> None:
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0.0)
