"""A policy as an albumentations 2.0.x pipeline built from albumentations' own transforms, and its file.

The pipeline has AutoAugment semantics: ``Compose([OneOf([Sequential(steps, p=w_k), ...], p=1)])``; a step with
one value is a transform with the step's p, a step with several (op choices, signs, magnitude levels) is a
``OneOf`` of them with the step's p, each written with its probability. Images are uint8 ``H x W x C`` (the fill
is written in 0..255). albumentations is optional: it is imported inside the functions that need it.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import math
import os
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from augmeta.export.errors import Approximations, ExportError, Refusal, Refusals
from augmeta.export.plan import ChoicePlan, StepPlan, Variant, as_policy, check_image_size, plan_policy
from augmeta.policy import Policy
from augmeta.policy.schema import OpChoice
from augmeta.utils import atomic_write_text

__all__ = ["import_albumentations", "save_albumentations", "seed_albumentations_worker", "to_albumentations"]

INSTALL_HINT = 'pip install "augmeta[albumentations]"'
_CV2_INTERPOLATION = {"nearest": 0, "bilinear": 1}  # cv2.INTER_NEAREST, cv2.INTER_LINEAR
_CV2_BORDER_CONSTANT = 0
_SCAN_LIMIT = 1000  # items of one list or dict searched for pipelines (datasets may hold long lists of paths)


def _is_albumentationsx(module: ModuleType) -> bool:
    try:
        importlib.metadata.distribution("albumentationsx")
        return True
    except importlib.metadata.PackageNotFoundError:
        pass
    parts = [int(p) if p.isdigit() else 0 for p in str(getattr(module, "__version__", "0")).split(".")[:2]]
    return tuple(parts + [0] * (2 - len(parts))) >= (2, 1)


def import_albumentations() -> ModuleType:
    """Import albumentations 2.0.x, with its PyPI update check off unless ``NO_ALBUMENTATIONS_UPDATE`` is set.

    Raises:
        ImportError: albumentations is missing, or it is AlbumentationsX (2.1+), whose argument names differ.
    """
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    try:
        import albumentations
    except ImportError as error:
        raise ImportError(
            f"Exporting to albumentations needs albumentations 2.0.x; install it with: {INSTALL_HINT}"
        ) from error
    if _is_albumentationsx(albumentations):
        raise ImportError(
            f"albumentations {albumentations.__version__} is AlbumentationsX (2.1+), whose argument names differ from "
            "albumentations 2.0.x (Rotate limit -> angle_range, ColorJitter brightness -> brightness_range, Sharpen "
            "alpha -> alpha_range, ...); augmeta writes the 2.0.x names. Install the MIT 2.0.x line with: "
            f"{INSTALL_HINT}"
        )
    return albumentations


@dataclass(frozen=True)
class _Context:
    A: ModuleType
    interpolation: str
    fill: float | tuple[float, ...]  # 0..255, for uint8 images
    image_size: tuple[int, int] | None
    approximations: Approximations
    path: str
    refusals: Refusals | None = None
    strict: bool = False

    def approximate(self, op: str, reason: str) -> None:
        self.approximations.add(op, reason, self.path)

    def affine(
        self, op: str, p: float, *, rotate=(0.0, 0.0), shear=(0.0, 0.0), translate_px=None, translate_percent=None
    ):
        """``A.Affine`` with everything written out; ``shear`` is ``(x degrees, y degrees)``."""
        if self.interpolation == "bilinear" and any(self.fill if isinstance(self.fill, tuple) else (self.fill,)):
            self.approximate(
                op,
                "with bilinear interpolation and a non-zero fill, torchvision (and augmeta) blend the fill into the "
                "edge of the uncovered area differently from OpenCV",
            )
        if translate_percent is not None:
            translate = {"translate_percent": translate_percent}
        else:
            translate = {"translate_px": translate_px or {"x": (0, 0), "y": (0, 0)}}
        return self.A.Affine(
            scale=(1.0, 1.0), rotate=rotate, shear={"x": (shear[0], shear[0]), "y": (shear[1], shear[1])},
            **translate, interpolation=_CV2_INTERPOLATION[self.interpolation], mask_interpolation=0,
            border_mode=_CV2_BORDER_CONSTANT, fill=self.fill, fill_mask=0, p=p, strict=True,
        )  # fmt: skip


Builder = Callable[[Variant, _Context, float], Any]


def _fixed(variant: Variant, what: str) -> float:
    if not variant.fixed:
        raise Refusal(
            f"its magnitude is uniform over an interval and albumentations cannot draw {what} that way; "
            "give the magnitude `levels` to export it as a choice of fixed values"
        )
    return variant.low


def _rotate(variant: Variant, context: _Context, p: float) -> Any:
    return context.affine("rotate", p, rotate=(variant.low, variant.high))


def _shear(axis: int) -> Builder:
    """albumentations shears about the image centre; augmeta about the top-left corner, which is the same shear
    followed by a shift of ``-s * H / 2`` (x) or ``-s * W / 2`` (y) pixels."""

    def build(variant: Variant, context: _Context, p: float) -> Any:
        factor = _fixed(variant, "a shear factor")
        degrees = math.degrees(math.atan(factor))
        shear = (degrees, 0.0) if axis == 0 else (0.0, degrees)
        if context.image_size is None:
            context.approximate(
                f"shear_{'xy'[axis]}",
                "albumentations shears about the image centre and augmeta about the top-left corner, so the image "
                "is shifted by shear * size / 2 px; pass image_size=(height, width) to compensate",
            )
            return context.affine(f"shear_{'xy'[axis]}", p, shear=shear)
        shift = -factor * context.image_size[axis] / 2.0  # the shift runs along x for shear_x, scaled by the height
        pixels = round(shift)
        if abs(shift - pixels) > 1e-6:
            context.approximate(
                f"shear_{'xy'[axis]}",
                "the top-left anchor needs a shift of shear * size / 2 px, which albumentations rounds to whole pixels",
            )
        offset = {"x": (pixels, pixels), "y": (0, 0)} if axis == 0 else {"x": (0, 0), "y": (pixels, pixels)}
        return context.affine(f"shear_{'xy'[axis]}", p, shear=shear, translate_px=offset)

    return build


def _translate(axis: int) -> Builder:
    def build(variant: Variant, context: _Context, p: float) -> Any:
        op, key, other = f"translate_{'xy'[axis]}", "xy"[axis], "yx"[axis]
        if context.image_size is None or not variant.fixed:
            context.approximate(
                op,
                "albumentations truncates fraction * size to whole pixels; pass image_size=(height, width) and a "
                "fixed magnitude to round like augmeta",
            )
            return context.affine(op, p, translate_percent={key: (variant.low, variant.high), other: (0.0, 0.0)})
        shift = variant.low * context.image_size[1 - axis]
        pixels = round(shift)
        tie = abs(abs(shift - math.floor(shift)) - 0.5) < 1e-6
        if abs(shift - pixels) > 1e-6 and (context.interpolation == "bilinear" or tie):
            context.approximate(op, f"sub-pixel shifts ({context.interpolation}) become whole-pixel shifts")
        return context.affine(op, p, translate_px={key: (pixels, pixels), other: (0, 0)})

    return build


def _jitter(name: str) -> Builder:
    def build(variant: Variant, context: _Context, p: float) -> Any:
        factors = {"brightness": (1.0, 1.0), "contrast": (1.0, 1.0), "saturation": (1.0, 1.0)}
        factors[name] = (1.0 + variant.low, 1.0 + variant.high)
        return context.A.ColorJitter(**factors, hue=(0.0, 0.0), p=p, strict=True)

    return build


def _sharpness(variant: Variant, context: _Context, p: float) -> Any:
    if variant.low < 0.0:
        if context.strict or not variant.fixed:
            raise Refusal(
                f"a sharpness factor below 1 ({1.0 + variant.low:.6g}) blurs, which albumentations' Sharpen cannot "
                "(its alpha is in [0, 1]) and no other albumentations transform does the same way"
            )
        factor = 1.0 + variant.low
        context.approximate(
            "sharpness",
            "a factor f below 1 (a blend towards PIL's 3x3 smoothing) becomes a 3x3 box blur applied with "
            "probability 1 - f (the same mean change, drawn per image; bench/README.md has the measured error)",
        )
        blur = context.A.Blur(blur_limit=(3, 3), p=min(1.0, max(0.0, 1.0 - factor)), strict=True)
        return context.A.Sequential([blur], p=p)
    context.approximate(
        "sharpness", "albumentations' Sharpen also filters the one-pixel border, which torchvision and augmeta keep"
    )
    alpha = (variant.low / 13.0, variant.high / 13.0)  # PIL's SMOOTH kernel: 1 + v = 1 + 13 * alpha
    return context.A.Sharpen(alpha=alpha, lightness=(1.0, 1.0), method="kernel", p=p, strict=True)


def _posterize(variant: Variant, context: _Context, p: float) -> Any:
    bits = round(_fixed(variant, "a number of bits"))
    if bits >= 8:
        return context.A.NoOp(p=p, strict=True)  # 8 bits is the identity; albumentations accepts 1..7
    return context.A.Posterize(num_bits=bits, p=p, strict=True)


def _cutout(variant: Variant, context: _Context, p: float) -> Any:
    value = abs(_fixed(variant, "a side"))
    context.approximate(
        "cutout",
        "albumentations keeps the hole inside the image; augmeta centres it on a uniform pixel and clips it",
    )
    if context.image_size is None:
        context.approximate("cutout", "without image_size the side is a fraction of each edge, not the shorter one")
        side: Any = value
    else:
        side = round(value * min(context.image_size))
    if side == 0:
        return context.A.NoOp(p=p, strict=True)
    return context.A.CoarseDropout(
        num_holes_range=(1, 1), hole_height_range=(side, side), hole_width_range=(side, side),
        fill=context.fill, fill_mask=None, p=p, strict=True,
    )  # fmt: skip


def _equalize(variant: Variant, context: _Context, p: float) -> Any:
    context.approximate(
        "equalize",
        "albumentations 2.0.8's PIL-mode equalisation counts each grey level's own pixels in its lookup table (PIL "
        "and torchvision count the darker levels only): within a few grey levels on images with a full histogram, "
        "far off on images with few distinct levels",
    )
    return context.A.Equalize(mode="pil", by_channels=True, p=p, strict=True)


def _auto_contrast(variant: Variant, context: _Context, p: float) -> Any:
    context.approximate(
        "auto_contrast",
        "albumentations 2.0.8 leaves the value 255 out of its histogram, so a channel that reaches 255 is stretched "
        "as if its maximum were its next-highest value (elsewhere within 1 grey level)",
    )
    return context.A.AutoContrast(cutoff=0, method="pil", p=p, strict=True)


_BUILDERS: dict[str, Builder] = {
    "identity": lambda v, c, p: c.A.NoOp(p=p, strict=True),
    "flip_x": lambda v, c, p: c.A.HorizontalFlip(p=p, strict=True),
    "flip_y": lambda v, c, p: c.A.VerticalFlip(p=p, strict=True),
    "shear_x": _shear(0),
    "shear_y": _shear(1),
    "translate_x": _translate(0),
    "translate_y": _translate(1),
    "rotate": _rotate,
    "brightness": _jitter("brightness"),
    "color": _jitter("saturation"),
    "contrast": _jitter("contrast"),
    "sharpness": _sharpness,
    "posterize": _posterize,
    "solarize": lambda v, c, p: c.A.Solarize(threshold_range=(v.low, v.high), p=p, strict=True),
    "auto_contrast": _auto_contrast,
    "equalize": _equalize,
    "invert": lambda v, c, p: c.A.InvertImg(p=p, strict=True),
    "cutout": _cutout,
}


#: Ops whose albumentations transform takes one value, not an interval: a uniform magnitude is quantised for them
#: (and for sharpness that can go below 1, whose blur stand-in takes one value too).
FIXED_VALUE_OPS = frozenset({"shear_x", "shear_y", "posterize", "cutout"})


def _needs_one_value(choice: OpChoice) -> bool:
    return choice.op in FIXED_VALUE_OPS or (choice.op == "sharpness" and (choice.signed or choice.range[0] < 0.0))


def _build(choice: ChoicePlan, variant: Variant, context: _Context, p: float) -> Any:
    """The transform of one variant; a refusal is collected (one error lists them all) and a NoOp stands in."""
    try:
        return _BUILDERS[choice.op](variant, context, p)
    except Refusal as refusal:
        if context.refusals is None:
            raise ExportError(
                f"`{choice.path}` (op {choice.op!r}) cannot be exported to albumentations: {refusal}."
            ) from None
        context.refusals.add(choice.op, choice.path, refusal)
        return context.A.NoOp(p=p, strict=True)


def _step(step: StepPlan, context: _Context) -> Any:
    for choice in step.choices:
        if choice.quantized:
            context.approximations.quantized(choice.op, choice.quantized, choice.path, "albumentations")
    options = [
        (choice, variant, choice.probability * variant.probability)
        for choice in step.choices
        for variant in choice.variants
        if choice.probability * variant.probability > 0.0
    ]
    if len(options) == 1:
        choice, variant, _ = options[0]
        return _build(choice, variant, replace(context, path=choice.path), step.p)
    transforms = [
        _build(choice, variant, replace(context, path=choice.path), probability)
        for choice, variant, probability in options
    ]
    return context.A.OneOf(transforms, p=step.p)


def to_albumentations(
    policy: Policy | str | os.PathLike[str], *, image_size: tuple[int, int] | None = None, strict: bool = False
) -> Any:
    """The policy as an ``albumentations.Compose`` of albumentations' own transforms (built with ``strict=True``).

    Args:
        policy: a :class:`~augmeta.Policy` or the path of a policy file.
        image_size: ``(height, width)`` of the images; makes translations, the shear anchor and the cutout side
            whole pixels like augmeta's (the pipeline is then meant for that size only).
        strict: refuse what albumentations can only approximate by a choice: a uniform magnitude of an op it sets to
            one value (shear, posterize, cutout). By default such a magnitude is drawn from
            :data:`~augmeta.export.plan.EXPORT_LEVELS` evenly spaced values and the warning lists it.

    Returns:
        ``A.Compose([A.OneOf([A.Sequential(steps, p=w_k), ...], p=1)], p=1, strict=True)`` for uint8 images.

    Warns:
        UserWarning: one warning that lists every op choice albumentations can only approximate, and why.

    Raises:
        ExportError: ops albumentations cannot express (sharpness below 1; with ``strict``, a uniform magnitude
            without ``levels`` for an op albumentations sets to one value); one error lists every field path.
        ImportError: albumentations is missing, or is AlbumentationsX.
    """
    A = import_albumentations()
    policy = as_policy(policy)
    fill = tuple(float(round(v * 255.0)) for v in policy.fill)
    approximations = Approximations("albumentations")
    size = check_image_size(image_size)
    refusals = Refusals("exported to albumentations")
    context = _Context(
        A, policy.interpolation, fill[0] if len(fill) == 1 else fill, size, approximations, "", refusals, strict
    )
    plan = plan_policy(policy, None if strict else _needs_one_value)
    subpolicies = [A.Sequential([_step(s, context) for s in sub.steps], p=sub.probability) for sub in plan.subpolicies]
    refusals.raise_any()
    compose = A.Compose([A.OneOf(subpolicies, p=1.0)], p=1.0, strict=True)
    approximations.warn()
    return compose


def _mark_strict(node: Any) -> None:
    """Write ``"strict": true`` into every transform and the Compose, so a renamed argument fails on load."""
    if isinstance(node, dict):
        name = str(node.get("__class_fullname__", "")).rsplit(".", 1)[-1]
        if name and ("transforms" not in node or name == "Compose"):
            node["strict"] = True
        for child in node.get("transforms", []):
            _mark_strict(child)


def albumentations_text(compose: Any, data_format: str) -> str:
    """``A.save`` output of ``compose`` with ``strict`` written in, as JSON or YAML text; checked by loading it."""
    A = import_albumentations()
    buffer = io.StringIO()
    A.save(compose, buffer, data_format=data_format)
    if data_format == "yaml":
        import yaml

        data = yaml.safe_load(buffer.getvalue())
        _mark_strict(data["transform"])
        text = yaml.safe_dump(data, sort_keys=False)
    else:
        data = json.loads(buffer.getvalue())
        _mark_strict(data["transform"])
        text = json.dumps(data, indent=2) + "\n"
    A.from_dict(data)  # what A.load will do: fails here, before anything is written, if it would fail there
    return text


def save_albumentations(
    policy: Policy | str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    image_size: tuple[int, int] | None = None,
    strict: bool = False,
) -> Path:
    """Write :func:`to_albumentations` of ``policy`` atomically to ``path`` (YAML for ``.yaml``/``.yml``, else JSON).

    A plain ``albumentations.load(path)`` (``data_format="yaml"`` for YAML) reads it without augmeta; every
    transform carries ``"strict": true``, so an argument that albumentations does not know fails the load.
    """
    path = Path(path)
    data_format = "yaml" if path.suffix.lower() in (".yaml", ".yml") else "json"
    text = albumentations_text(to_albumentations(policy, image_size=image_size, strict=strict), data_format)
    return atomic_write_text(path, text)


def _albumentations_pipelines(root: Any, depth: int = 4) -> Iterator[Any]:
    """Albumentations transforms and compositions reachable from ``root`` through attributes and containers."""
    import albumentations

    kinds = (albumentations.BaseCompose, albumentations.BasicTransform)
    seen: set[int] = set()
    frontier = [root]
    for _ in range(depth + 1):
        following = []
        for item in frontier:
            if id(item) in seen or isinstance(item, (str, bytes, int, float, torch.Tensor)):
                continue
            seen.add(id(item))
            if isinstance(item, kinds):
                yield item
            elif isinstance(item, dict):
                following.extend(list(item.values())[:_SCAN_LIMIT])
            elif isinstance(item, (list, tuple)):
                following.extend(item[:_SCAN_LIMIT])
            elif hasattr(item, "__dict__"):
                following.extend(vars(item).values())
        frontier = following


def seed_albumentations_worker(worker_id: int, pipelines: Iterable[Any] | None = None) -> None:
    """``worker_init_fn`` for a ``DataLoader``: give each worker's albumentations pipelines their own RNG.

    albumentations 2.0.8 keeps a private RNG in every transform, copied as it is into each worker, so workers
    repeat each other's augmentations. This seeds one shared stream per pipeline from ``torch.initial_seed()``,
    which the DataLoader makes different in every worker and every epoch.

    Args:
        worker_id: the worker's number (passed by the DataLoader).
        pipelines: the pipelines to reseed; by default those found in the worker's dataset (its attributes,
            lists and dicts, four levels deep).
    """
    import numpy as np

    import_albumentations()
    info = torch.utils.data.get_worker_info()
    if pipelines is None:
        if info is None:
            raise RuntimeError("seed_albumentations_worker() runs in DataLoader workers (as worker_init_fn) only.")
        pipelines = list(_albumentations_pipelines(info.dataset))
    seed = torch.initial_seed()
    for index, pipeline in enumerate(pipelines):
        entropy = [seed % 2**32, seed // 2**32 % 2**32, worker_id, index]
        generator = np.random.default_rng(entropy)
        pipeline.set_random_state(generator, random.Random(int(generator.integers(2**63))))
