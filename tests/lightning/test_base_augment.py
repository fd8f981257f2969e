"""``random_crop_flip``: the zero-padded random crop and horizontal flip every method shares, drawn per image."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as nnf

from augmeta.lightning.base_augment import random_crop_flip


def random_images(batch: int, channels: int = 3, height: int = 6, width: int = 7, seed: int = 0) -> torch.Tensor:
    """Float images in (0, 1) with distinct pixels, so no two windows of an image are equal (not square)."""
    return torch.rand(batch, channels, height, width, generator=torch.Generator().manual_seed(seed)) * 0.9 + 0.05


def window_offsets(images: torch.Tensor, out: torch.Tensor, padding: int) -> list[list[tuple[int, int]]]:
    """For each image, every (row, column) offset whose window of the zero-padded image equals the output."""
    height, width = images.shape[-2:]
    padded = nnf.pad(images, (padding, padding, padding, padding))
    span = range(2 * padding + 1)
    return [
        [(dy, dx) for dy in span for dx in span if torch.equal(out[i], padded[i, :, dy : dy + height, dx : dx + width])]
        for i in range(images.shape[0])
    ]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16, torch.uint8])
@pytest.mark.parametrize(("padding", "flip"), [(0, True), (2, False), (4, True)])
def test_keeps_shape_dtype_and_device(dtype, padding, flip):
    images = (random_images(5) * 255).to(dtype) if dtype == torch.uint8 else random_images(5).to(dtype)
    original = images.clone()
    out = random_crop_flip(images, padding, flip, torch.Generator().manual_seed(0))
    assert (out.shape, out.dtype, out.device) == (images.shape, dtype, images.device)
    assert torch.equal(images, original)  # not modified in place


def test_no_padding_and_no_flip_is_the_identity():
    images = random_images(4)
    assert torch.equal(random_crop_flip(images, 0, False), images)


def test_each_crop_is_a_window_of_the_zero_padded_image():
    images, padding = random_images(64), 2
    out = random_crop_flip(images, padding, False, torch.Generator().manual_seed(1))
    offsets = window_offsets(images, out, padding)
    assert all(len(found) == 1 for found in offsets)
    rows, columns = {found[0][0] for found in offsets}, {found[0][1] for found in offsets}
    assert rows == columns == set(range(2 * padding + 1))  # each image draws its own offsets, over the whole range
    assert (out == 0).any()  # the padding shows


def test_crop_then_flip():
    images, padding = random_images(32, seed=2), 3
    out = random_crop_flip(images, padding, True, torch.Generator().manual_seed(3))
    unflipped = window_offsets(images, out, padding)
    flipped = window_offsets(images, out.flip(-1), padding)
    assert all(len(a) + len(b) == 1 for a, b in zip(unflipped, flipped, strict=True))
    assert 0 < sum(len(b) for b in flipped) < 32


def test_flips_are_drawn_per_image():
    images = random_images(400, channels=1)
    out = random_crop_flip(images, 0, True, torch.Generator().manual_seed(4))
    same = (out == images).flatten(1).all(dim=1)
    mirrored = (out == images.flip(-1)).flatten(1).all(dim=1)
    assert (same ^ mirrored).all()
    assert 160 <= int(mirrored.sum()) <= 240  # about half: 200 +- 4 standard deviations


def test_the_same_seed_gives_the_same_batch():
    images = random_images(16)
    first = random_crop_flip(images, 2, True, torch.Generator().manual_seed(5))
    again = random_crop_flip(images, 2, True, torch.Generator().manual_seed(5))
    other = random_crop_flip(images, 2, True, torch.Generator().manual_seed(6))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_without_a_generator_the_global_seed_decides():
    images = random_images(16)
    torch.manual_seed(7)
    first = random_crop_flip(images, 2, True)
    torch.manual_seed(7)
    assert torch.equal(random_crop_flip(images, 2, True), first)
