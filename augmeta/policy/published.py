"""The published policies as augmeta policies, with the ops, probabilities, magnitude bins and ranges of
torchvision's ``AutoAugment``, ``RandAugment`` and ``TrivialAugmentWide`` (transforms v2).

The tables are literal data (op, probability, magnitude bin of 10, or None), copied from torchvision's
``AutoAugment._get_policies``; the tests check them against torchvision.
"""

from __future__ import annotations

from typing import Literal

from augmeta.ops import OPS
from augmeta.policy.policy import Policy
from augmeta.policy.schema import SCHEMA_VERSION

__all__ = ["AUTOAUGMENT_TABLES", "STANDARD_OPS", "autoaugment", "randaugment", "trivialaugment_wide"]

#: The 14 ops of torchvision's RandAugment and TrivialAugmentWide, in its order.
STANDARD_OPS = (
    "identity", "shear_x", "shear_y", "translate_x", "translate_y", "rotate", "brightness", "color", "contrast",
    "sharpness", "posterize", "solarize", "auto_contrast", "equalize",
)

#: torchvision's AutoAugment / RandAugment ranges (translate as a fraction of the size: 150/331).
AUTOAUGMENT_RANGES: dict[str, tuple[float, float]] = {
    "shear_x": (0.0, 0.3), "shear_y": (0.0, 0.3),
    "translate_x": (0.0, 150.0 / 331.0), "translate_y": (0.0, 150.0 / 331.0),
    "rotate": (0.0, 30.0),
    "brightness": (0.0, 0.9), "color": (0.0, 0.9), "contrast": (0.0, 0.9), "sharpness": (0.0, 0.9),
    "posterize": (8.0, 4.0), "solarize": (1.0, 0.0),
}

#: torchvision's TrivialAugmentWide ranges; its 32-pixel translation is written as 1.0 of the size (exact on 32 px).
TRIVIALAUGMENT_WIDE_RANGES: dict[str, tuple[float, float]] = {
    "shear_x": (0.0, 0.99), "shear_y": (0.0, 0.99),
    "translate_x": (0.0, 1.0), "translate_y": (0.0, 1.0),
    "rotate": (0.0, 135.0),
    "brightness": (0.0, 0.99), "color": (0.0, 0.99), "contrast": (0.0, 0.99), "sharpness": (0.0, 0.99),
    "posterize": (8.0, 2.0), "solarize": (1.0, 0.0),
}

AUTOAUGMENT_TABLES: dict[str, tuple[tuple[tuple[str, float, int | None], ...], ...]] = {
    "cifar10": (
        (("invert", 0.1, None), ("contrast", 0.2, 6)),
        (("rotate", 0.7, 2), ("translate_x", 0.3, 9)),
        (("sharpness", 0.8, 1), ("sharpness", 0.9, 3)),
        (("shear_y", 0.5, 8), ("translate_y", 0.7, 9)),
        (("auto_contrast", 0.5, None), ("equalize", 0.9, None)),
        (("shear_y", 0.2, 7), ("posterize", 0.3, 7)),
        (("color", 0.4, 3), ("brightness", 0.6, 7)),
        (("sharpness", 0.3, 9), ("brightness", 0.7, 9)),
        (("equalize", 0.6, None), ("equalize", 0.5, None)),
        (("contrast", 0.6, 7), ("sharpness", 0.6, 5)),
        (("color", 0.7, 7), ("translate_x", 0.5, 8)),
        (("equalize", 0.3, None), ("auto_contrast", 0.4, None)),
        (("translate_y", 0.4, 3), ("sharpness", 0.2, 6)),
        (("brightness", 0.9, 6), ("color", 0.2, 8)),
        (("solarize", 0.5, 2), ("invert", 0.0, None)),
        (("equalize", 0.2, None), ("auto_contrast", 0.6, None)),
        (("equalize", 0.2, None), ("equalize", 0.6, None)),
        (("color", 0.9, 9), ("equalize", 0.6, None)),
        (("auto_contrast", 0.8, None), ("solarize", 0.2, 8)),
        (("brightness", 0.1, 3), ("color", 0.7, 0)),
        (("solarize", 0.4, 5), ("auto_contrast", 0.9, None)),
        (("translate_y", 0.9, 9), ("translate_y", 0.7, 9)),
        (("auto_contrast", 0.9, None), ("solarize", 0.8, 3)),
        (("equalize", 0.8, None), ("invert", 0.1, None)),
        (("translate_y", 0.7, 9), ("auto_contrast", 0.9, None)),
    ),
    "svhn": (
        (("shear_x", 0.9, 4), ("invert", 0.2, None)),
        (("shear_y", 0.9, 8), ("invert", 0.7, None)),
        (("equalize", 0.6, None), ("solarize", 0.6, 6)),
        (("invert", 0.9, None), ("equalize", 0.6, None)),
        (("equalize", 0.6, None), ("rotate", 0.9, 3)),
        (("shear_x", 0.9, 4), ("auto_contrast", 0.8, None)),
        (("shear_y", 0.9, 8), ("invert", 0.4, None)),
        (("shear_y", 0.9, 5), ("solarize", 0.2, 6)),
        (("invert", 0.9, None), ("auto_contrast", 0.8, None)),
        (("equalize", 0.6, None), ("rotate", 0.9, 3)),
        (("shear_x", 0.9, 4), ("solarize", 0.3, 3)),
        (("shear_y", 0.8, 8), ("invert", 0.7, None)),
        (("equalize", 0.9, None), ("translate_y", 0.6, 6)),
        (("invert", 0.9, None), ("equalize", 0.6, None)),
        (("contrast", 0.3, 3), ("rotate", 0.8, 4)),
        (("invert", 0.8, None), ("translate_y", 0.0, 2)),
        (("shear_y", 0.7, 6), ("solarize", 0.4, 8)),
        (("invert", 0.6, None), ("rotate", 0.8, 4)),
        (("shear_y", 0.3, 7), ("translate_x", 0.9, 3)),
        (("shear_x", 0.1, 6), ("invert", 0.6, None)),
        (("solarize", 0.7, 2), ("translate_y", 0.6, 7)),
        (("shear_y", 0.8, 4), ("invert", 0.8, None)),
        (("shear_x", 0.7, 9), ("translate_y", 0.8, 3)),
        (("shear_y", 0.8, 5), ("auto_contrast", 0.7, None)),
        (("shear_x", 0.7, 2), ("invert", 0.1, None)),
    ),
    "imagenet": (
        (("posterize", 0.4, 8), ("rotate", 0.6, 9)),
        (("solarize", 0.6, 5), ("auto_contrast", 0.6, None)),
        (("equalize", 0.8, None), ("equalize", 0.6, None)),
        (("posterize", 0.6, 7), ("posterize", 0.6, 6)),
        (("equalize", 0.4, None), ("solarize", 0.2, 4)),
        (("equalize", 0.4, None), ("rotate", 0.8, 8)),
        (("solarize", 0.6, 3), ("equalize", 0.6, None)),
        (("posterize", 0.8, 5), ("equalize", 1.0, None)),
        (("rotate", 0.2, 3), ("solarize", 0.6, 8)),
        (("equalize", 0.6, None), ("posterize", 0.4, 6)),
        (("rotate", 0.8, 8), ("color", 0.4, 0)),
        (("rotate", 0.4, 9), ("equalize", 0.6, None)),
        (("equalize", 0.0, None), ("equalize", 0.8, None)),
        (("invert", 0.6, None), ("equalize", 1.0, None)),
        (("color", 0.6, 4), ("contrast", 1.0, 8)),
        (("rotate", 0.8, 8), ("color", 1.0, 2)),
        (("color", 0.8, 8), ("solarize", 0.8, 7)),
        (("sharpness", 0.4, 7), ("invert", 0.6, None)),
        (("shear_x", 0.6, 5), ("equalize", 1.0, None)),
        (("color", 0.4, 0), ("equalize", 0.6, None)),
        (("equalize", 0.4, None), ("solarize", 0.2, 4)),
        (("solarize", 0.6, 5), ("auto_contrast", 0.6, None)),
        (("invert", 0.6, None), ("equalize", 1.0, None)),
        (("color", 0.6, 4), ("contrast", 1.0, 8)),
        (("equalize", 0.8, None), ("equalize", 0.6, None)),
    ),
}

_TORCHVISION = "torchvision.transforms.v2 (0.29)"


def _choice(op: str, magnitude, ranges: dict[str, tuple[float, float]], weight: float = 1.0) -> dict:
    has_magnitude = OPS[op].default_range is not None
    return {
        "op": op,
        "weight": weight,
        "magnitude": magnitude if has_magnitude else 0.0,
        "range": list(ranges[op]) if has_magnitude else None,
        "signed": OPS[op].signed if has_magnitude else False,
    }


def _policy(name: str, description: str, subpolicies: list[dict], source: str) -> Policy:
    return Policy.from_dict(
        {
            "schema_version": SCHEMA_VERSION,
            "name": name,
            "description": description,
            "fill": [0.0],
            "interpolation": "nearest",
            "subpolicies": subpolicies,
            "provenance": {"source": source, "method": "published", "created_by": "augmeta.policy.published"},
        }
    )


def autoaugment(dataset: Literal["cifar10", "svhn", "imagenet"] = "cifar10") -> Policy:
    """AutoAugment (Cubuk et al., 2019): 25 sub-policies of 2 ops, as torchvision ships them."""
    if dataset not in AUTOAUGMENT_TABLES:
        raise ValueError(f"`dataset` should be one of {sorted(AUTOAUGMENT_TABLES)}, but got {dataset!r} instead.")
    subpolicies = [
        {
            "weight": 1.0,
            "steps": [
                {"p": p, "ops": [_choice(op, (bin_ or 0) / 9.0, AUTOAUGMENT_RANGES)]} for op, p, bin_ in table
            ],
        }
        for table in AUTOAUGMENT_TABLES[dataset]
    ]
    return _policy(
        f"autoaugment_{dataset}",
        f"AutoAugment's learned {dataset} policy: one of 25 sub-policies of two ops, each op with its own p.",
        subpolicies,
        f"Cubuk et al. 2019, AutoAugment; tables and ranges of {_TORCHVISION} AutoAugmentPolicy.{dataset.upper()}",
    )


def randaugment(num_ops: int = 2, magnitude: int = 9, num_magnitude_bins: int = 31) -> Policy:
    """RandAugment (Cubuk et al., 2020) as torchvision defines it: ``num_ops`` ops drawn uniformly from 14,
    each at magnitude bin ``magnitude`` of ``num_magnitude_bins`` (so M = 9 means 9/30 of each range)."""
    if not isinstance(num_ops, int) or num_ops < 1:
        raise ValueError(f"`num_ops` should be an integer >= 1, but got {num_ops!r} instead.")
    if not 0 <= magnitude < num_magnitude_bins:
        raise ValueError(f"`magnitude` should be in [0, {num_magnitude_bins - 1}], but got {magnitude!r} instead.")
    m = magnitude / (num_magnitude_bins - 1)
    step = {"p": 1.0, "ops": [_choice(op, m, AUTOAUGMENT_RANGES) for op in STANDARD_OPS]}
    return _policy(
        f"randaugment_n{num_ops}_m{magnitude}",
        f"RandAugment: {num_ops} ops drawn uniformly from 14, magnitude {magnitude}/{num_magnitude_bins - 1} of each range.",
        [{"weight": 1.0, "steps": [step] * num_ops}],
        f"Cubuk et al. 2020, RandAugment; ops and ranges of {_TORCHVISION} RandAugment",
    )


def trivialaugment_wide(num_magnitude_bins: int = 31) -> Policy:
    """TrivialAugmentWide (Mueller & Hutter, 2021): one op of 14, magnitude uniform over ``num_magnitude_bins`` bins."""
    magnitude = {"low": 0.0, "high": 1.0, "levels": num_magnitude_bins}
    step = {"p": 1.0, "ops": [_choice(op, magnitude, TRIVIALAUGMENT_WIDE_RANGES) for op in STANDARD_OPS]}
    return _policy(
        "trivialaugment_wide",
        "TrivialAugmentWide: one op drawn uniformly from 14 at a uniformly drawn magnitude (wide ranges).",
        [{"weight": 1.0, "steps": [step]}],
        f"Mueller & Hutter 2021, TrivialAugment; ops and ranges of {_TORCHVISION} TrivialAugmentWide",
    )


PUBLISHED = {
    "autoaugment_cifar10": lambda: autoaugment("cifar10"),
    "autoaugment_svhn": lambda: autoaugment("svhn"),
    "autoaugment_imagenet": lambda: autoaugment("imagenet"),
    "randaugment_n2_m9": lambda: randaugment(2, 9),
    "trivialaugment_wide": trivialaugment_wide,
}


if __name__ == "__main__":  # python -m augmeta.policy.published policies/
    import sys
    from pathlib import Path

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "policies")
    for name, build in PUBLISHED.items():
        print(build().save(folder / f"{name}.json"))
