"""A stock torchvision composition as a Python file that rebuilds it with torchvision alone (no augmeta)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from augmeta.export.plan import as_policy
from augmeta.export.torchvision import to_torchvision
from augmeta.policy import Policy
from augmeta.utils import atomic_write_text

__all__ = ["save_torchvision_stock", "stock_python_code"]

_TYPES = {tv_tensors.Mask: "tv_tensors.Mask", tv_tensors.BoundingBoxes: "tv_tensors.BoundingBoxes"}
#: The constructor arguments of each class ``to_torchvision(stock_only=True)`` uses, read back from its attributes.
_ARGUMENTS: dict[type, tuple[str, ...]] = {
    v2.RandomChoice: ("transforms", "p"),
    v2.RandomApply: ("transforms", "p"),
    v2.Compose: ("transforms",),
    v2.Identity: (),
    v2.RandomHorizontalFlip: ("p",),
    v2.RandomVerticalFlip: ("p",),
    v2.RandomRotation: ("degrees", "interpolation", "fill"),
    v2.RandomAffine: ("degrees", "shear", "interpolation", "fill", "center"),
    v2.ColorJitter: ("brightness", "contrast", "saturation"),
    v2.RandomAdjustSharpness: ("sharpness_factor", "p"),
    v2.RandomPosterize: ("bits", "p"),
    v2.RandomSolarize: ("threshold", "p"),
    v2.RandomAutocontrast: ("p",),
    v2.RandomEqualize: ("p",),
    v2.RandomInvert: ("p",),
    v2.Pad: ("padding", "fill"),
    v2.CenterCrop: ("size",),
    v2.RandomErasing: ("p", "scale", "ratio", "value"),
}


def _literal(value: Any, indent: int) -> str:
    if isinstance(value, v2.Transform):
        return _python(value, indent)
    if isinstance(value, (list, tuple, torch.nn.ModuleList)):
        items = [_literal(v, indent + 4) for v in value]
        if any(isinstance(v, v2.Transform) for v in value):
            pad = " " * (indent + 4)
            return "[\n" + "".join(f"{pad}{item},\n" for item in items) + " " * indent + "]"
        return "[" + ", ".join(items) + "]"
    if isinstance(value, dict):
        keys = [_TYPES.get(k, repr(k)) for k in value]
        return "{" + ", ".join(f"{k}: {_literal(v, indent)}" for k, v in zip(keys, value.values(), strict=True)) + "}"
    if isinstance(value, v2.InterpolationMode):
        return f"v2.InterpolationMode.{value.name}"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as Python")


def _python(transform: v2.Transform, indent: int = 0) -> str:
    names = _ARGUMENTS.get(type(transform))
    if names is None:
        raise TypeError(f"{type(transform).__name__} is not a class stock exports use.")
    arguments = ", ".join(f"{name}={_literal(getattr(transform, name), indent)}" for name in names)
    return f"v2.{type(transform).__name__}({arguments})"


def stock_python_code(policy: Policy | str | os.PathLike[str], **options: Any) -> str:
    """Python source that defines ``transform``, the stock composition of :func:`to_torchvision` (``stock_only=True``;
    ``options`` are its ``image_size`` and ``dtype``), importing torchvision only."""
    policy = as_policy(policy)
    transform = to_torchvision(policy, stock_only=True, **options)
    # Nothing read from the policy file reaches the code except through ``repr`` of a ``str``, which is always one
    # closed string literal: the docstring is fixed text, so a name holding quotes cannot end it.
    options_text = ", ".join(f"{key}={value}" for key, value in options.items()) or "none"
    header = (
        '"""An augmentation policy as torchvision transforms v2 (stock classes only).\n\n'
        "Written by augmeta from the policy named in `POLICY_NAME`; needs torchvision only.\n"
        "Use `transform` like any v2 transform.\n"
        '"""\n\n'
        "from torchvision import tv_tensors  # noqa: F401  (fill dicts name tv_tensors types)\n"
        "from torchvision.transforms import v2\n\n"
        f"POLICY_NAME = {str(policy.name)!r}\n"
        f"EXPORT_OPTIONS = {options_text!r}\n\n"
    )
    return header + f"transform = {_python(transform)}\n"


def save_torchvision_stock(
    policy: Policy | str | os.PathLike[str], path: str | os.PathLike[str], **options: Any
) -> Path:
    """Write :func:`stock_python_code` of ``policy`` atomically to ``path`` (a ``.py`` file)."""
    return atomic_write_text(path, stock_python_code(policy, **options))
