"""Preview a policy: a grid of augmented images, rows are images and columns are draws, the original first."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as nnf

from augmeta.policy import Policy
from augmeta.utils import SYSTEM_FASHION_MNIST_DIR, atomic_write_bytes, read_idx

__all__ = ["GRID_PAD", "grid_cell", "load_preview_images", "policy_grid", "save_png"]

GRID_PAD = 2  # white pixels around and between cells
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def _digits(count: int) -> torch.Tensor:
    """scikit-learn's 8x8 digits (grey levels 0..16), upscaled to 32x32 (nearest): uint8 ``[N, 1, 32, 32]``."""
    from sklearn.datasets import load_digits

    levels = torch.from_numpy(load_digits().images[:count]).to(torch.float32) * (255.0 / 16.0)
    images = levels.round().to(torch.uint8).unsqueeze(1)
    return nnf.interpolate(images.float(), size=(32, 32), mode="nearest").to(torch.uint8)


def _fashion_mnist(count: int, folder: Path = SYSTEM_FASHION_MNIST_DIR) -> torch.Tensor:
    path = folder / "t10k-images-idx3-ubyte.gz"
    if not path.is_file():
        raise FileNotFoundError(f"Fashion-MNIST test images not found at {path}.")
    return torch.from_numpy(read_idx(path)[:count].copy()).unsqueeze(1)


def _folder(folder: Path, count: int) -> torch.Tensor:
    """Up to ``count`` images of ``folder`` (sorted by name), RGB, resized to the first one's size."""
    from PIL import Image

    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)[:count]
    if not paths:
        raise FileNotFoundError(f"No images ({', '.join(_IMAGE_SUFFIXES)}) in {folder}.")
    images, size = [], None
    for path in paths:
        with Image.open(path) as image:
            image = image.convert("RGB")
            size = size or image.size
            images.append(np.asarray(image.resize(size) if image.size != size else image))
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


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
    return _folder(folder, count)


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
