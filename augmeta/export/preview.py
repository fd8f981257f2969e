"""Preview a policy: a grid of augmented images, rows are images and columns are draws, the original first."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as nnf

from augmeta.datasets import (
    IMAGE_FILE_SUFFIXES,
    dataset_spec,
    folder_layout,
    load_digits,
    load_image_files,
    read_idx_images,
    read_rgb_images,
)
from augmeta.ops import as_float_batch, restore_layout
from augmeta.policy import OP_NAMES, Policy
from augmeta.utils import atomic_write_bytes

__all__ = ["GRID_PAD", "grid_cell", "labelled_grid", "load_preview_images", "policy_grid", "save_png"]

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
    if any(p.suffix.lower() in IMAGE_FILE_SUFFIXES for p in folder.iterdir()):
        return load_image_files(folder, count)
    return read_rgb_images(_one_per_class(folder, count), resample=None)


def _one_per_class(root: Path, count: int) -> list[Path]:
    """Up to ``count`` images of an ImageFolder root (``root/<class>/<image>``, or ``root/train/<class>/...``),
    taken from each class in turn (sorted), so that a grid shows every class."""
    classes = sorted(p for p in folder_layout(root)[0].iterdir() if p.is_dir())
    files = [sorted(f for f in c.rglob("*") if f.suffix.lower() in IMAGE_FILE_SUFFIXES) for c in classes]
    picked = [group[i] for i in range(max(map(len, files), default=0)) for group in files if i < len(group)]
    if not picked:
        raise FileNotFoundError(f"No images ({', '.join(IMAGE_FILE_SUFFIXES)}) in {root} or its class folders.")
    return picked[:count]


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


#: A labelled grid's cells are upscaled (nearest, by a whole factor) to at least this many pixels on their longer side.
LABELLED_CELL = 72
LABEL_HEIGHT = 12  # pixels under each cell for its label


def _ops_of(draws, index: int) -> str:
    """The ops image ``index`` drew, in order (``-`` when no step fired)."""
    ops = [OP_NAMES[int(step.op[index])] for step in draws.steps]
    ops = [op for op in ops if op != "identity"]
    return "+".join(ops) if ops else "-"


def labelled_grid(
    policy: Policy, images: torch.Tensor, draws: int, generator: torch.Generator | None = None
) -> np.ndarray:
    """uint8 ``[H', W', 3]``: as :func:`policy_grid` (row: an image; column 0: the original, then its draws), with
    cells upscaled to at least :data:`LABELLED_CELL` pixels and each draw labelled with the ops it applied."""
    from PIL import Image, ImageDraw

    if draws < 1:
        raise ValueError(f"The number of draws should be at least 1, but got {draws}.")
    count, channels, height, width = images.shape
    repeated, dtype, _ = as_float_batch(images.repeat_interleave(draws, dim=0))  # as Policy.apply, keeping the draws
    sampled = policy.sample(repeated.shape[0], repeated.device, generator)
    augmented = restore_layout(policy.apply_draws(repeated, sampled), dtype, False)
    augmented = augmented.view(count, draws, channels, height, width)
    cells = torch.cat([images.unsqueeze(1), augmented], dim=1)  # [N, 1 + draws, C, H, W]
    scale = max(1, -(-LABELLED_CELL // max(height, width)))
    cells = cells.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    cells = cells.expand(-1, -1, 3, -1, -1) if channels == 1 else cells
    cell_h, cell_w = height * scale, width * scale
    step_h, step_w = cell_h + LABEL_HEIGHT + GRID_PAD, cell_w + GRID_PAD
    canvas = Image.new("RGB", (GRID_PAD + (draws + 1) * step_w, GRID_PAD + count * step_h), "white")
    pen = ImageDraw.Draw(canvas)
    chars = max(3, cell_w // 6)  # PIL's default bitmap font: about 6 pixels a character
    for row in range(count):
        for col in range(draws + 1):
            left, top = GRID_PAD + col * step_w, GRID_PAD + row * step_h
            canvas.paste(Image.fromarray(cells[row, col].permute(1, 2, 0).numpy()), (left, top))
            label = "original" if col == 0 else _ops_of(sampled, row * draws + col - 1)
            label = label if len(label) <= chars else label[: chars - 1] + "~"
            pen.text((left + 1, top + cell_h), label, fill=(0, 0, 0) if col else (90, 90, 90))
    return np.asarray(canvas)


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
