"""Preview a policy: a grid of augmented images, rows are images and columns are draws, the original first."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as nnf

from augmeta.datasets import dataset_spec, load_digits, load_image_files, read_idx_images
from augmeta.policy import Policy
from augmeta.utils import atomic_write_bytes

__all__ = ["GRID_PAD", "grid_cell", "load_preview_images", "policy_grid", "save_png"]

GRID_PAD = 2  # white pixels around and between cells
PREVIEW_DIGIT_SIZE = 32  # the 8x8 digits are upscaled (nearest) to this height and width


def _digits(count: int) -> torch.Tensor:
    """scikit-learn's 8x8 digits (grey levels 0..16), upscaled to 32x32 (nearest): uint8 ``[N, 1, 32, 32]``."""
    images = load_digits().train_images[:count]
    size = (PREVIEW_DIGIT_SIZE, PREVIEW_DIGIT_SIZE)
    return nnf.interpolate(images.float(), size=size, mode="nearest").to(torch.uint8)


def _fashion_mnist(count: int) -> torch.Tensor:
    """The first ``count`` Fashion-MNIST test images from the system folder: uint8 ``[N, 1, 28, 28]``."""
    path = dataset_spec("fashion_mnist").system_dir / "t10k-images-idx3-ubyte.gz"
    if not path.is_file():
        raise FileNotFoundError(f"Fashion-MNIST test images not found at {path}.")
    return read_idx_images(path)[:count]


def load_preview_images(source: str | os.PathLike[str], count: int) -> torch.Tensor:
    """``count`` images as uint8 ``[N, C, H, W]`` from ``"digits"``, ``"fashion_mnist"`` or a folder of images."""
    if count < 1:
        raise ValueError(f"The number of images should be at least 1, but got {count}.")
    if source == "digits":
        return _digits(count)
    if source == "fashion_mnist":
        return _fashion_mnist(count)
    folder = Path(source)
    if not folder.is_dir():
        raise FileNotFoundError(f"{str(folder)!r} is not a folder of images (nor 'digits' or 'fashion_mnist').")
    return load_image_files(folder, count)


def policy_grid(
    policy: Policy, images: torch.Tensor, draws: int, generator: torch.Generator | None = None
) -> np.ndarray:
    """uint8 ``[H', W', C]`` grid: row ``r`` is image ``r``, column 0 the original, columns 1.. its draws."""
    if draws < 1:
        raise ValueError(f"The number of draws should be at least 1, but got {draws}.")
    count, channels, height, width = images.shape
    augmented = policy.apply(images.repeat_interleave(draws, dim=0), generator).view(
        count, draws, channels, height, width
    )
    cells = torch.cat([images.unsqueeze(1), augmented], dim=1)  # [N, 1 + draws, C, H, W]
    grid = torch.full(
        (channels, GRID_PAD + count * (height + GRID_PAD), GRID_PAD + (draws + 1) * (width + GRID_PAD)),
        255,
        dtype=torch.uint8,
    )
    for row in range(count):
        for col in range(draws + 1):
            top, left = GRID_PAD + row * (height + GRID_PAD), GRID_PAD + col * (width + GRID_PAD)
            grid[:, top : top + height, left : left + width] = cells[row, col]
    return grid.permute(1, 2, 0).numpy()


def grid_cell(grid: np.ndarray, row: int, col: int, height: int, width: int) -> np.ndarray:
    """The cell at ``(row, col)`` of a :func:`policy_grid` of ``height x width`` images, ``[H, W, C]``."""
    top, left = GRID_PAD + row * (height + GRID_PAD), GRID_PAD + col * (width + GRID_PAD)
    return grid[top : top + height, left : left + width]


def save_png(grid: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write ``grid`` (uint8 ``[H, W, 1 or 3]``) as a PNG, atomically."""
    from PIL import Image

    image = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())
