"""The base recipe every method shares: random crop with zero padding and horizontal flip, batched on the device."""

from __future__ import annotations

import torch
import torch.nn.functional as nnf

__all__ = ["random_crop_flip"]


def random_crop_flip(
    images: torch.Tensor, padding: int, flip: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Pad each ``[B, C, H, W]`` image by ``padding`` zeros, crop a random H x W window, flip half of them.

    Each image draws its own offsets and flip. ``padding=0`` and ``flip=False`` return the images unchanged.
    """
    batch, _, height, width = images.shape
    device = images.device
    gen_device = generator.device if generator is not None else device
    out = images
    if padding > 0:
        padded = nnf.pad(images, (padding, padding, padding, padding))
        offsets = torch.randint(0, 2 * padding + 1, (batch, 2), generator=generator, device=gen_device).to(device)
        rows = (offsets[:, 0, None] + torch.arange(height, device=device)).view(batch, 1, height, 1)
        cols = (offsets[:, 1, None] + torch.arange(width, device=device)).view(batch, 1, 1, width)
        channels = images.shape[1]
        out = padded.gather(2, rows.expand(batch, channels, height, padded.shape[-1]))
        out = out.gather(3, cols.expand(batch, channels, height, width))
    if flip:
        flips = torch.rand(batch, generator=generator, device=gen_device).to(device) < 0.5
        out = torch.where(flips.view(-1, 1, 1, 1), out.flip(-1), out)
    return out
