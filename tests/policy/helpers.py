"""Helpers shared by the policy tests: the shipped policy files, policy dicts and small uint8 images."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

import augmeta
from augmeta.ops import OPS

POLICY_DIR = Path(augmeta.__file__).resolve().parents[1] / "policies"
POLICY_FILES = tuple(sorted(POLICY_DIR.glob("*.json")))  # the published policies
LEARNED_FILES = tuple(sorted((POLICY_DIR / "learned").glob("*.json")))  # policies augmeta learned, with their metrics
SHIPPED_FILES = POLICY_FILES + LEARNED_FILES

MINIMAL_POLICY: dict[str, Any] = {
    "schema_version": 1,
    "name": "minimal",
    "subpolicies": [
        {
            "steps": [
                {"p": 0.5, "ops": [{"op": "rotate", "magnitude": 0.5, "range": [0.0, 30.0], "signed": True}]},
            ]
        }
    ],
    "provenance": {"source": "tests", "method": "hand-written"},
}


def every_op_choices(levels: int | None = None) -> list[dict[str, Any]]:
    """One choice per registered op: its default range, its sign, a magnitude uniform over [0.2, 1]."""
    choices = []
    for name, spec in OPS.items():
        if spec.has_magnitude:
            magnitude: Any = {"low": 0.2, "high": 1.0, "levels": levels}
            choices.append(
                {"op": name, "magnitude": magnitude, "range": list(spec.default_range), "signed": spec.signed}
            )
        else:
            choices.append({"op": name, "range": None, "signed": False})
    return choices


def make_policy_dict(
    choices: list[dict[str, Any]],
    *,
    p: float = 1.0,
    steps: int = 1,
    fill: tuple[float, ...] = (0.0,),
    interpolation: str = "nearest",
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": "test",
        "fill": list(fill),
        "interpolation": interpolation,
        "subpolicies": [{"steps": [{"p": p, "ops": copy.deepcopy(choices)} for _ in range(steps)]}],
        "provenance": {"source": "tests", "method": "hand-written"},
    }


def smooth_uint8_images(batch: int, channels: int, height: int = 32, width: int = 32, seed: int = 0) -> torch.Tensor:
    """``[batch, channels, height, width]`` uint8: smooth colour fields with sharp-edged blocks (no flat image)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, channels, 6, 6, generator=generator)
    smooth = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    blocks = torch.rand(batch, channels, 4, 4, generator=generator)
    sharp = torch.nn.functional.interpolate(blocks, size=(height, width), mode="nearest")
    images = 0.6 * smooth + 0.4 * sharp
    images[..., : height // 8, : width // 8] = 1.0  # a white corner (solarize at threshold 1, auto_contrast)
    return (images * 255.0).round().clamp(0, 255).to(torch.uint8)
