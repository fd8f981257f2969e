"""Shared fixtures: small real images as float ``[B, C, H, W]`` batches in [0, 1] on 8-bit levels (k / 255)."""

from __future__ import annotations

import functools

import pytest
import torch
from sklearn.datasets import load_digits
from torchvision.transforms.v2 import functional as F


@functools.cache
def _digits() -> torch.Tensor:
    raw = torch.from_numpy(load_digits().images[:8]).to(torch.float32)  # [8, 8, 8], grey levels 0..16
    levels = (raw / 16.0 * 255.0).round() / 255.0
    return F.resize(levels.unsqueeze(1), [32, 32], interpolation=F.InterpolationMode.NEAREST)


@functools.cache
def _colour() -> torch.Tensor:
    height, width, count = 24, 32, 4  # not square, so a swapped height/width shows
    generator = torch.Generator().manual_seed(0)
    ys = torch.linspace(0.0, 1.0, height).view(height, 1).expand(height, width)
    xs = torch.linspace(0.0, 1.0, width).view(1, width).expand(height, width)
    images = []
    for k in range(count):
        red = (0.5 + 0.1 * k) * xs + 0.2 * ys
        green = 0.8 * ys + 0.1 * k
        blue = 0.5 + 0.5 * torch.sin(6.0 * xs + 3.0 * ys + k)
        image = torch.stack([red, green, blue])
        image[:, 4 + k : 12 + k, 6:18] = torch.rand(3, 1, 1, generator=generator)  # a flat rectangle
        disk = (ys * height - 16.0) ** 2 + (xs * width - 22.0 - k) ** 2 < 25.0
        image[:, disk] = torch.rand(3, 1, generator=generator)  # a flat disk
        images.append(image)
    return (torch.stack(images).clamp(0.0, 1.0) * 255.0).round() / 255.0


@pytest.fixture
def digits_images() -> torch.Tensor:
    """Eight scikit-learn digits upscaled 8x8 -> 32x32 (nearest): float32 ``[8, 1, 32, 32]``, values k / 255."""
    return _digits().clone()


@pytest.fixture
def colour_images() -> torch.Tensor:
    """Four colour images (gradients, a rectangle and a disk): float32 ``[4, 3, 24, 32]``, values k / 255."""
    return _colour().clone()
