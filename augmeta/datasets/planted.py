"""Planted-structure data sets: a known invariance or boundary put into a plain data set, so a learner's policy can
be checked against it (LILA's rotated MNIST and Fashion-MNIST; Augerino's upright / upside-down "Mario-Iggy").

- ``rotated``: every training and test image is turned by its own angle, uniform over the whole circle, so a
  rotation of any size leaves an image the data could hold: the right policy rotates a lot.
- ``upside_down``: a few items, each upright or upside down, are the classes (item x orientation), with some tens of
  degrees of jitter: a rotation past the boundary between the two changes the label, so the right rotation range is
  bounded, and a vertical flip always changes it.
- ``mirrored``: the right policy depends on the class. Some items are mirrored at random (even odds), so a
  horizontal flip is an invariance their classes need; the others, as written or mirrored, are two classes each, so
  for them a flip always changes the label. A global policy must drop the flip; a per-class one keeps it where it is
  safe (the meta-tree's planted task).

- ``turned``: the right policy depends on the class, by rotation. The images of some items are turned by their own
  angle over the whole circle, so rotation is an invariance those classes need; the other items stay upright, so
  for them a turn only makes images the data never holds (and an upright 6 turned half way is a 9). A global policy
  must choose between the two; a per-class one rotates where it is safe (a meta-tree task with rotation's headroom).
- ``oriented``: the same choice with a label at stake. Some items are turned over the whole circle (rotation is an
  invariance their classes need); the others, upright or upside down with some jitter, are two classes each (as in
  ``upside_down``), so for them a turn past the boundary changes the label. A global policy must bound its turns
  for the second group; a per-class one turns the first group all the way round.

All are made from the base data set's images with a fixed seed, so the same files give the same planted data set on
every machine; a run's own seed then picks its splits as for any data set.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as nnf

__all__ = ["PLANTED_SEED", "mirrored", "oriented", "rotate_images", "rotated", "turned", "upside_down"]

#: Seeds the planted angles and orientations; the train and test splits draw from their own streams.
PLANTED_SEED = 20221


def rotate_images(images: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each ``uint8 [N, C, H, W]`` image counter-clockwise by its own angle ``degrees[N]`` about its centre,
    bilinear, zero fill, rounded back to uint8."""
    radians = degrees.double() * (math.pi / 180.0)
    cos, sin = torch.cos(radians), torch.sin(radians)
    zero = torch.zeros_like(cos)
    # grid_sample's theta maps output to input coordinates: the inverse rotation (counter-clockwise on screen)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1).float()
    grid = nnf.affine_grid(theta, list(images.shape), align_corners=False)
    turned = nnf.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return turned.round().clamp(0, 255).to(torch.uint8)


def _generator(split: str) -> torch.Generator:
    return torch.Generator().manual_seed(PLANTED_SEED + (0 if split == "train" else 1))


def _upright_or_upside_down(generator: torch.Generator, count: int, jitter: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, whether it is upside down (even odds) and its angle: 0 or 180 degrees, plus up to ``jitter``
    either way (drawn in that order from ``generator``)."""
    flipped = torch.rand(count, generator=generator) < 0.5
    return flipped, (torch.rand(count, generator=generator) * 2.0 - 1.0) * jitter + 180.0 * flipped


def _label_map(single: tuple[int, ...], paired: tuple[int, ...]) -> torch.Tensor:
    """Base label -> first new label: item ``single[k]`` is ``k``; item ``paired[k]`` is ``S + 2 k`` (its second
    class ``S + 2 k + 1``), S = ``len(single)``; -1 for the items left out."""
    new = torch.full((max((*single, *paired)) + 1,), -1, dtype=torch.long)
    if single:
        new[torch.tensor(single)] = torch.arange(len(single))
    new[torch.tensor(paired)] = len(single) + 2 * torch.arange(len(paired))
    return new


def rotated(images: torch.Tensor, labels: torch.Tensor, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image turned by an angle uniform in [-180, 180) degrees; labels unchanged."""
    angles = torch.rand(len(images), generator=_generator(split)) * 360.0 - 180.0
    return rotate_images(images, angles), labels


def upside_down(
    images: torch.Tensor, labels: torch.Tensor, split: str, items: tuple[int, ...], jitter: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of ``items`` only, each upright or upside down (even odds) and turned by up to ``jitter`` degrees
    either way; the label of item ``items[k]`` is ``2 k`` upright and ``2 k + 1`` upside down."""
    keep = torch.isin(labels, torch.tensor(items))
    images, labels = images[keep], labels[keep]
    flipped, angles = _upright_or_upside_down(_generator(split), len(images), jitter)
    return rotate_images(images, angles), _label_map((), items)[labels] + flipped.long()


def mirrored(
    images: torch.Tensor, labels: torch.Tensor, split: str, symmetric: tuple[int, ...], chiral: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of ``symmetric`` and ``chiral`` items only, each mirrored left to right at even odds. Item
    ``symmetric[k]`` is label ``k`` either way; item ``chiral[k]`` is label ``S + 2 k`` as written and ``S + 2 k + 1``
    mirrored (S = ``len(symmetric)``)."""
    items = (*symmetric, *chiral)
    keep = torch.isin(labels, torch.tensor(items))
    images, labels = images[keep], labels[keep]
    flipped = torch.rand(len(images), generator=_generator(split)) < 0.5
    images = torch.where(flipped[:, None, None, None], images.flip(-1), images)
    is_chiral = torch.isin(labels, torch.tensor(chiral))
    return images, _label_map(symmetric, chiral)[labels] + (is_chiral & flipped).long()


def turned(
    images: torch.Tensor, labels: torch.Tensor, split: str, items: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of ``items`` turned by an angle uniform in [-180, 180) degrees, the others as they are; labels
    unchanged."""
    angles = torch.rand(len(images), generator=_generator(split)) * 360.0 - 180.0
    angles = torch.where(torch.isin(labels, torch.tensor(items)), angles, 0.0)
    return torch.where((angles != 0.0)[:, None, None, None], rotate_images(images, angles), images), labels


def oriented(
    images: torch.Tensor,
    labels: torch.Tensor,
    split: str,
    turned: tuple[int, ...],
    oriented: tuple[int, ...],
    jitter: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of ``turned`` and ``oriented`` items only. Item ``turned[k]`` is label ``k``, each image turned by
    an angle uniform in [-180, 180) degrees; item ``oriented[k]`` is label ``T + 2 k`` upright and ``T + 2 k + 1``
    upside down (even odds), turned by up to ``jitter`` degrees either way of that (T = ``len(turned)``)."""
    items = (*turned, *oriented)
    keep = torch.isin(labels, torch.tensor(items))
    images, labels = images[keep], labels[keep]
    generator = _generator(split)
    whole_circle = torch.rand(len(images), generator=generator) * 360.0 - 180.0
    flipped, jittered = _upright_or_upside_down(generator, len(images), jitter)
    is_oriented = torch.isin(labels, torch.tensor(oriented))
    angles = torch.where(is_oriented, jittered, whole_circle)
    return rotate_images(images, angles), _label_map(turned, oriented)[labels] + (is_oriented & flipped).long()
