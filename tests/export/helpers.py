"""Helpers of the export tests: one-op policies, images in each library's layout, recorders of applied ops."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from augmeta import Policy
from augmeta.ops import OPS

#: The standard op set: torchvision's 14 plus cutout, flip_x, flip_y and invert.
STANDARD_OPS = (
    "identity", "shear_x", "shear_y", "translate_x", "translate_y", "rotate", "brightness", "color", "contrast",
    "sharpness", "posterize", "solarize", "auto_contrast", "equalize", "cutout", "flip_x", "flip_y", "invert",
)  # fmt: skip


def policy_dict(
    subpolicies: list[list[dict[str, Any]]],
    *,
    weights: list[float] | None = None,
    fill: tuple[float, ...] = (0.0,),
    interpolation: str = "nearest",
) -> dict[str, Any]:
    """A policy dict from sub-policies given as lists of steps (``{"p": .., "ops": [..]}``)."""
    weights = weights or [1.0] * len(subpolicies)
    return {
        "schema_version": 1,
        "name": "export-test",
        "fill": list(fill),
        "interpolation": interpolation,
        "subpolicies": [{"weight": w, "steps": steps} for w, steps in zip(weights, subpolicies, strict=True)],
        "provenance": {"source": "tests", "method": "hand-written"},
    }


def choice(op: str, magnitude: Any = 1.0, value_range: list[float] | None = None, signed: bool = False, weight=1.0):
    """An op choice; ``value_range`` defaults to the op's registered range (None for ops without a magnitude)."""
    spec = OPS[op]
    if not spec.has_magnitude:
        return {"op": op, "weight": weight, "range": None, "signed": False}
    value_range = list(value_range or spec.default_range)
    return {"op": op, "weight": weight, "magnitude": magnitude, "range": value_range, "signed": signed}


def one_op_policy(op: str, value: float | None = None, **settings: Any) -> Policy:
    """A policy of one step with p = 1 applying ``op`` at the fixed physical ``value`` (unsigned range [id, value])."""
    spec = OPS[op]
    if not spec.has_magnitude:
        return Policy.from_dict(policy_dict([[{"p": 1.0, "ops": [choice(op)]}]], **settings))
    lo = spec.default_range[0]
    return Policy.from_dict(policy_dict([[{"p": 1.0, "ops": [choice(op, 1.0, [lo, value])]}]], **settings))


def to_hwc(images: torch.Tensor) -> list[np.ndarray]:
    """uint8 ``[B, C, H, W]`` -> albumentations' ``H x W x C`` arrays."""
    return [np.ascontiguousarray(image.permute(1, 2, 0).numpy()) for image in images]


def from_hwc(images: list[np.ndarray]) -> torch.Tensor:
    return torch.stack([torch.from_numpy(image).permute(2, 0, 1) for image in images])


def as_uint8(images: torch.Tensor) -> torch.Tensor:
    return (images * 255.0).round().to(torch.uint8)


def max_difference(a: torch.Tensor, b: torch.Tensor) -> int:
    return int((a.int() - b.int()).abs().max())


CONTAINERS = frozenset({"Compose", "OneOf", "Sequential", "RandomChoice", "RandomApply"})


def leaves(transform: Any) -> list[Any]:
    """The leaf transforms of an albumentations or torchvision composition."""
    if type(transform).__name__ not in CONTAINERS:
        return [transform]
    return [leaf for child in transform.transforms for leaf in leaves(child)]


class Recorder:
    """Counts, over calls, the images that got each label at least once."""

    def __init__(self) -> None:
        self.current: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.calls = 0

    def mark(self, label: str) -> None:
        self.current.add(label)

    def end_call(self) -> None:
        self.counts.update(self.current)
        self.current = set()
        self.calls += 1


def record_albumentations(compose: Any, label: Callable[[Any], str], recorder: Recorder) -> None:
    """Make every leaf of ``compose`` mark ``label(leaf)`` when it is applied."""
    for leaf in leaves(compose):
        original, name = leaf.apply_with_params, label(leaf)

        def applied(params, *args, _original=original, _name=name, **kwargs):
            recorder.mark(_name)
            return _original(params, *args, **kwargs)

        leaf.apply_with_params = applied


def record_torchvision(transform: Any, label: Callable[[Any], str], recorder: Recorder) -> None:
    """Make every leaf of a torchvision composition mark ``label(leaf)`` when it runs."""
    for leaf in leaves(transform):
        original, name = leaf.forward, label(leaf)

        def forward(*inputs, _original=original, _name=name):
            recorder.mark(_name)
            return _original(*inputs)

        leaf.forward = forward


def assert_frequencies(counts: Counter[str], calls: int, expected: dict[str, float], sigmas: float = 5.0) -> None:
    """Each observed frequency is within ``sigmas`` binomial standard deviations of the expected one."""
    assert set(counts) <= set(expected), f"unexpected ops {set(counts) - set(expected)}"
    for op, p in expected.items():
        sigma = math.sqrt(max(p * (1.0 - p), 1e-12) / calls)
        observed = counts[op] / calls
        assert abs(observed - p) <= sigmas * sigma, f"{op}: observed {observed:.4f}, expected {p:.4f} +- {sigma:.4f}"
