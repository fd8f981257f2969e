"""Cheap, model-free per-image features: what the adaptive meta-network (and the meta-tree distilled from it) sees.

They depend on the pixels only, never on the base model, so a decision tree can reproduce the controller's choices
in any data loader.
"""

from __future__ import annotations

import torch

__all__ = ["FEATURE_NAMES", "image_features"]

FEATURE_NAMES = (
    "mean",  # mean grey level
    "std",  # spread of grey levels
    "min",
    "max",
    "edge_energy",  # mean absolute horizontal + vertical difference
    "colourfulness",  # mean over pixels of the spread across channels (0 for grey images)
    "dark_fraction",  # pixels below 0.1
    "bright_fraction",  # pixels above 0.9
    "centroid_x",  # intensity-weighted centre, -0.5 (left) .. 0.5 (right)
    "centroid_y",
    "extent",  # intensity-weighted mean distance from the centroid, in image widths
)


def image_features(images: torch.Tensor) -> torch.Tensor:
    """``[B, C, H, W]`` float images in [0, 1] -> ``[B, len(FEATURE_NAMES)]`` float features (no gradient)."""
    with torch.no_grad():
        images = images.float()
        grey = images.mean(dim=1)
        batch, height, width = grey.shape
        flat = grey.reshape(batch, -1)
        edge = (grey[:, :, 1:] - grey[:, :, :-1]).abs().mean(dim=(1, 2)) + (grey[:, 1:] - grey[:, :-1]).abs().mean(
            dim=(1, 2)
        )
        colour = images.std(dim=1, unbiased=False).mean(dim=(1, 2)) if images.shape[1] > 1 else torch.zeros_like(edge)
        ys = (torch.arange(height, device=images.device, dtype=torch.float32) + 0.5) / height - 0.5
        xs = (torch.arange(width, device=images.device, dtype=torch.float32) + 0.5) / width - 0.5
        mass = grey.sum(dim=(1, 2)).clamp_min(1e-6)
        cx = (grey * xs).sum(dim=(1, 2)) / mass
        cy = (grey * ys[:, None]).sum(dim=(1, 2)) / mass
        distance = ((xs - cx[:, None, None]) ** 2 + (ys[:, None] - cy[:, None, None]) ** 2).sqrt()
        extent = (grey * distance).sum(dim=(1, 2)) / mass
        return torch.stack(
            [
                flat.mean(dim=1),
                flat.std(dim=1, unbiased=False),
                flat.amin(dim=1),
                flat.amax(dim=1),
                edge,
                colour,
                (flat < 0.1).float().mean(dim=1),
                (flat > 0.9).float().mean(dim=1),
                cx,
                cy,
                extent,
            ],
            dim=1,
        )
