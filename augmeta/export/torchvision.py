"""A policy as a torchvision transforms v2 transform.

:class:`PolicyTransform` draws with augmeta's own sampler and applies ``torchvision.transforms.v2.functional`` with
the same parameters to every input of a call (images, videos, boxes, masks), so it equals ``Policy.apply`` image
for image. ``to_torchvision(policy, stock_only=True)`` writes the policy with torchvision's own classes only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from augmeta.export.errors import Approximations, Refusal, Refusals
from augmeta.export.plan import StepPlan, as_policy, check_image_size, plan_policy
from augmeta.ops.erase import cutout_box
from augmeta.policy import OP_NAMES, Policy

__all__ = ["PolicyTransform", "to_torchvision"]

_MODES = {"nearest": F.InterpolationMode.NEAREST, "bilinear": F.InterpolationMode.BILINEAR}
_IMAGE_TYPES = (tv_tensors.Image, tv_tensors.Video)


class PolicyTransform(v2.Transform):
    """Augment each call's inputs with one draw of the policy (sub-policy, gates, ops, magnitudes, signs).

    Works on PIL images, uint8 or float tensors ``[..., C, H, W]`` and ``tv_tensors`` (geometric ops also move
    bounding boxes and masks; photometric ops and cutout leave them as they are). Draws use torch's global RNG,
    which a ``DataLoader`` seeds differently in every worker and every epoch; the transform pickles.

    uint8 tensors are augmented in float and rounded once at the end, exactly like ``Policy.apply``. A batch
    ``[B, C, H, W]`` passed as one tensor gets one draw for all its images, like torchvision's ``AutoAugment``.
    """

    def __init__(self, policy: Policy | str | os.PathLike[str]) -> None:
        super().__init__()
        self._policy = as_policy(policy)

    @property
    def policy(self) -> Policy:
        return self._policy

    def extra_repr(self) -> str:
        return f"policy={self._policy.name!r}, subpolicies={len(self._policy.subpolicies)}"

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        draws = self._policy.sample(1)
        ops = []
        for step in draws.steps:
            name = OP_NAMES[int(step.op[0])]
            if name != "identity":
                ops.append((name, float(step.value[0]), tuple(step.position[0].tolist())))
        return {"ops": ops, "size": _common_size(flat_inputs) if ops else None}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not params["ops"]:
            return inpt
        if isinstance(inpt, PIL.Image.Image):
            self._policy.check_images(len(inpt.getbands()), inpt.height, inpt.width)
            return self._apply_ops(inpt, params, image=True)
        if isinstance(inpt, _IMAGE_TYPES) or _is_pure_tensor(inpt):
            plain = inpt.as_subclass(torch.Tensor)
            if plain.dim() >= 3:
                self._policy.check_images(*plain.shape[-3:])
            uint8 = plain.dtype == torch.uint8
            x = plain.to(torch.float32).mul_(1.0 / 255.0) if uint8 else plain
            out = self._apply_ops(x, params, image=True)
            out = out.mul(255.0).round_().clamp_(0, 255).to(torch.uint8) if uint8 else out
            return tv_tensors.wrap(out, like=inpt) if isinstance(inpt, _IMAGE_TYPES) else out
        return self._apply_ops(inpt, params, image=False)

    def _apply_ops(self, inpt: Any, params: dict[str, Any], image: bool) -> Any:
        context = _Context(self, params["size"], self._fill_for(inpt, image), _MODES[self._policy.interpolation])
        for name, value, position in params["ops"]:
            if name in _GEOMETRIC:
                inpt = _GEOMETRIC[name](context, inpt, value)
            elif image:
                inpt = _PHOTOMETRIC[name](context, inpt, value, position)
        return inpt

    def _fill_for(self, inpt: Any, image: bool) -> list[float] | None:
        """torchvision's ``fill`` for this input: the policy's fill on images (0..255 on PIL), none elsewhere."""
        fill = list(self._policy.fill)
        if not image or not any(fill):
            return None  # zero fill: torchvision's unmasked path, as augmeta's warp takes it
        return [float(round(v * 255.0)) for v in fill] if isinstance(inpt, PIL.Image.Image) else fill


def _is_pure_tensor(inpt: Any) -> bool:
    return isinstance(inpt, torch.Tensor) and not isinstance(inpt, tv_tensors.TVTensor)


def _common_size(flat_inputs: list[Any]) -> tuple[int, int] | None:
    sizes = set()
    for inpt in flat_inputs:
        try:
            sizes.add(tuple(F.get_size(inpt)))
        except TypeError:
            continue
    if len(sizes) > 1:
        raise ValueError(f"All inputs of one call should have the same height and width, but got {sorted(sizes)}.")
    return sizes.pop() if sizes else None


@dataclass(frozen=True)
class _Context:
    transform: PolicyTransform
    size: tuple[int, int] | None
    fill: list[float] | None
    mode: F.InterpolationMode

    def call(self, functional: Callable[..., Any], inpt: Any, *args: Any, **kwargs: Any) -> Any:
        return self.transform._call_kernel(functional, inpt, *args, **kwargs)

    def affine(self, inpt: Any, translate: list[float], shear: list[float], center: list[int] | None) -> Any:
        return self.call(
            F.affine, inpt, angle=0.0, translate=translate, scale=1.0, shear=shear,
            interpolation=self.mode, fill=self.fill, center=center,
        )  # fmt: skip


def _shear_degrees(value: float) -> float:
    return math.degrees(math.atan(value))


_GEOMETRIC: dict[str, Callable[[_Context, Any, float], Any]] = {
    "shear_x": lambda c, x, v: c.affine(x, [0.0, 0.0], [_shear_degrees(v), 0.0], [0, 0]),
    "shear_y": lambda c, x, v: c.affine(x, [0.0, 0.0], [0.0, _shear_degrees(v)], [0, 0]),
    "translate_x": lambda c, x, v: c.affine(x, [v * c.size[1], 0.0], [0.0, 0.0], None),
    "translate_y": lambda c, x, v: c.affine(x, [0.0, v * c.size[0]], [0.0, 0.0], None),
    "rotate": lambda c, x, v: c.call(F.rotate, x, v, interpolation=c.mode, fill=c.fill),
    "flip_x": lambda c, x, v: c.call(F.horizontal_flip, x),
    "flip_y": lambda c, x, v: c.call(F.vertical_flip, x),
}


def _posterize(context: _Context, inpt: Any, value: float, position: tuple[float, float]) -> Any:
    """Keep ``round(value)`` bits of the 8-bit levels (float images are quantised to 8 bits, as augmeta does)."""
    bits = min(max(round(value), 0), 8)
    if bits >= 8:
        return inpt
    if isinstance(inpt, PIL.Image.Image):
        return F.posterize(inpt, bits)
    levels = inpt.mul(255.0).round_().to(torch.uint8)
    return F.posterize(levels, bits).to(inpt.dtype) / 255.0


def _solarize(context: _Context, inpt: Any, value: float, position: tuple[float, float]) -> Any:
    threshold = value * 255.0 if isinstance(inpt, PIL.Image.Image) else value
    return F.solarize(inpt, threshold=threshold)


def _cutout(context: _Context, inpt: Any, value: float, position: tuple[float, float]) -> Any:
    height, width = context.size
    top, left, bottom, right = cutout_box(torch.tensor([value]), torch.tensor([position]), height, width)[0].tolist()
    if bottom <= top or right <= left:
        return inpt
    pil = isinstance(inpt, PIL.Image.Image)
    channels = len(inpt.getbands()) if pil else inpt.shape[-3]
    fill = [round(v * 255.0) for v in context.transform.policy.fill] if pil else list(context.transform.policy.fill)
    if len(fill) not in (1, channels):
        raise ValueError(f"`fill` should have 1 value or one per channel ({channels}), but got {fill}.")
    dtype = torch.uint8 if pil else inpt.dtype
    patch = torch.tensor(fill, dtype=dtype).view(-1, 1, 1).expand(channels, 1, 1)
    return context.call(F.erase, inpt, top, left, bottom - top, right - left, patch)


_PHOTOMETRIC: dict[str, Callable[[_Context, Any, float, tuple[float, float]], Any]] = {
    "brightness": lambda c, x, v, _: F.adjust_brightness(x, 1.0 + v),
    "color": lambda c, x, v, _: F.adjust_saturation(x, 1.0 + v),
    "contrast": lambda c, x, v, _: F.adjust_contrast(x, 1.0 + v),
    "sharpness": lambda c, x, v, _: F.adjust_sharpness(x, 1.0 + v),
    "posterize": _posterize,
    "solarize": _solarize,
    "auto_contrast": lambda c, x, v, _: F.autocontrast(x),
    "equalize": lambda c, x, v, _: F.equalize(x),
    "invert": lambda c, x, v, _: F.invert(x),
    "cutout": _cutout,
}


# ---------------------------------------------------------------------------------------------------------------
# Stock torchvision classes only


@dataclass(frozen=True)
class _StockContext:
    mode: F.InterpolationMode
    interpolation: str
    fill: Any  # the ``fill`` argument: a dict by input type, or None for torchvision's unmasked zero fill
    pad_fill: Any
    image_size: tuple[int, int] | None
    uint8: bool
    approximations: Approximations | None = None
    strict: bool = False
    path: str = ""

    def approximate(self, op: str, reason: str) -> None:
        if self.approximations is not None:
            self.approximations.add(op, reason, self.path)


def _fixed(low: float, high: float, what: str) -> float:
    if low != high:
        raise Refusal(f"its magnitude is uniform over an interval and no stock transform draws {what} that way")
    return low


def _stock_shear(axis: int) -> Callable[[float, float, _StockContext], v2.Transform]:
    def build(low: float, high: float, context: _StockContext) -> v2.Transform:
        degrees = _shear_degrees(_fixed(low, high, "a shear factor"))
        shear = (degrees, degrees, 0.0, 0.0) if axis == 0 else (0.0, 0.0, degrees, degrees)
        return v2.RandomAffine(
            degrees=(0.0, 0.0), shear=shear, interpolation=context.mode, fill=context.fill, center=[0, 0]
        )

    return build


def _stock_translate(axis: int) -> Callable[[float, float, _StockContext], v2.Transform]:
    """A fixed shift of ``round(v * size)`` whole pixels as ``Pad`` + ``CenterCrop`` (exact where F.affine's shift
    lands on whole pixels: nearest interpolation away from half-pixel ties, or a whole-pixel shift)."""

    def build(low: float, high: float, context: _StockContext) -> v2.Transform:
        value = _fixed(low, high, "a translation")
        if context.image_size is None:
            raise Refusal(
                "a translation is a fraction of the image size and no stock transform shifts by a fixed amount "
                "without knowing that size; pass image_size=(height, width)"
            )
        height, width = context.image_size
        shift = value * (width if axis == 0 else height)
        pixels = round(shift)
        tie = abs(abs(shift - math.floor(shift)) - 0.5) < 1e-6
        if abs(shift - pixels) > 1e-6 and (context.interpolation == "bilinear" or tie):
            if context.strict:
                raise Refusal(
                    f"the shift of {shift:.6g} px is not a whole number of pixels, which torchvision resamples "
                    f"({context.interpolation}) and no stock transform does"
                )
            context.approximate(
                f"translate_{'xy'[axis]}", f"sub-pixel shifts ({context.interpolation}) become whole-pixel shifts"
            )
        if pixels == 0:
            return v2.Identity()
        pad = [0, 0, 0, 0]  # left, top, right, bottom
        pad[axis if pixels > 0 else axis + 2] = 2 * abs(pixels)
        return v2.Compose([v2.Pad(pad, fill=context.pad_fill), v2.CenterCrop([height, width])])

    return build


def _stock_posterize(low: float, high: float, context: _StockContext) -> v2.Transform:
    bits = round(_fixed(low, high, "a number of bits"))
    if not context.uint8:
        raise Refusal("torchvision posterizes float images to 2**bits levels of [0, 1], not augmeta's 8-bit levels")
    return v2.Identity() if bits >= 8 else v2.RandomPosterize(bits=bits, p=1.0)


def _stock_solarize(low: float, high: float, context: _StockContext) -> v2.Transform:
    threshold = _fixed(low, high, "a threshold")
    return v2.RandomSolarize(threshold=threshold * 255.0 if context.uint8 else threshold, p=1.0)


def _stock_jitter(name: str) -> Callable[[float, float, _StockContext], v2.Transform]:
    return lambda low, high, context: v2.ColorJitter(**{name: (1.0 + low, 1.0 + high)})


def _stock_cutout(low: float, high: float, context: _StockContext) -> v2.Transform:
    """A square of the same side as ``v2.RandomErasing`` (area and aspect ratio fixed), which keeps it inside the
    image where augmeta centres it on a uniform pixel and clips it (as albumentations does too)."""
    if context.strict:
        raise Refusal(
            "v2.RandomErasing keeps its box inside the image, while augmeta's cutout is a square centred on a "
            "uniform pixel and clipped at the border"
        )
    side = abs(_fixed(low, high, "a side"))
    if side == 0.0:
        return v2.Identity()
    context.approximate(
        "cutout", "v2.RandomErasing keeps the square inside the image; augmeta centres it on a uniform pixel, clipped"
    )
    if context.image_size is None:
        context.approximate("cutout", "without image_size the square's area assumes square images")
        area = min(1.0, side * side)
    else:
        height, width = context.image_size
        area = min(1.0, (side * min(height, width)) ** 2 / (height * width))
    fill = context.pad_fill["others"]
    value = [float(v) for v in fill] if isinstance(fill, (list, tuple)) else float(fill)
    return v2.RandomErasing(p=1.0, scale=(area, area), ratio=(1.0, 1.0), value=value)


_STOCK: dict[str, Callable[[float, float, _StockContext], v2.Transform]] = {
    "identity": lambda low, high, context: v2.Identity(),
    "flip_x": lambda low, high, context: v2.RandomHorizontalFlip(p=1.0),
    "flip_y": lambda low, high, context: v2.RandomVerticalFlip(p=1.0),
    "shear_x": _stock_shear(0),
    "shear_y": _stock_shear(1),
    "translate_x": _stock_translate(0),
    "translate_y": _stock_translate(1),
    "rotate": lambda low, high, c: v2.RandomRotation(degrees=(low, high), interpolation=c.mode, fill=c.fill),
    "brightness": _stock_jitter("brightness"),
    "color": _stock_jitter("saturation"),
    "contrast": _stock_jitter("contrast"),
    "sharpness": lambda low, high, c: v2.RandomAdjustSharpness(1.0 + _fixed(low, high, "a sharpness factor"), p=1.0),
    "posterize": _stock_posterize,
    "solarize": _stock_solarize,
    "auto_contrast": lambda low, high, context: v2.RandomAutocontrast(p=1.0),
    "equalize": lambda low, high, context: v2.RandomEqualize(p=1.0),
    "invert": lambda low, high, context: v2.RandomInvert(p=1.0),
    "cutout": _stock_cutout,
}


#: Ops whose stock transform takes one value, not an interval: a uniform magnitude is quantised for them.
STOCK_FIXED_VALUE_OPS = frozenset(
    {"shear_x", "shear_y", "translate_x", "translate_y", "posterize", "solarize", "sharpness", "cutout"}
)


def _stock_step(step: StepPlan, context: _StockContext, refusals: Refusals) -> v2.Transform:
    options: list[tuple[v2.Transform, float]] = []
    for choice in step.choices:
        if choice.quantized:
            context.approximations.quantized(choice.op, choice.quantized, choice.path, "the stock transform")
        for variant in choice.variants:
            try:
                transform = _STOCK[choice.op](variant.low, variant.high, replace(context, path=choice.path))
            except Refusal as refusal:
                refusals.add(choice.op, choice.path, refusal)
                transform = v2.Identity()
            options.append((transform, choice.probability * variant.probability))
    options = [(transform, p) for transform, p in options if p > 0.0]
    if len(options) == 1:
        return options[0][0]
    return v2.RandomChoice([t for t, _ in options], p=[p for _, p in options])


def _stock_context(
    policy: Policy, image_size: tuple[int, int] | None, dtype: torch.dtype, strict: bool = False
) -> _StockContext:
    if dtype not in (torch.uint8, torch.float32, torch.float64):
        raise ValueError(f"`dtype` should be torch.uint8 (also PIL images) or a float dtype, but got {dtype}.")
    uint8 = dtype == torch.uint8
    fill = [round(v * 255.0) if uint8 else v for v in policy.fill]
    fill = fill[0] if len(fill) == 1 else fill
    masks_and_boxes = {tv_tensors.Mask: None, tv_tensors.BoundingBoxes: None}
    warp_fill = None if not any(policy.fill) else {**masks_and_boxes, "others": fill}
    pad_fill = {tv_tensors.Mask: 0, "others": fill}
    approximations = Approximations("stock torchvision")
    return _StockContext(
        _MODES[policy.interpolation], policy.interpolation, warp_fill, pad_fill, image_size, uint8, approximations,
        strict,
    )  # fmt: skip


def _stock_composition(
    policy: Policy, image_size: tuple[int, int] | None, dtype: torch.dtype, strict: bool = False
) -> v2.Transform:
    context = _stock_context(policy, image_size, dtype, strict)
    refusals = Refusals("written with stock torchvision transforms")
    plan = plan_policy(policy, None if strict else (lambda choice: choice.op in STOCK_FIXED_VALUE_OPS))
    subpolicies = [
        v2.Compose([v2.RandomApply([_stock_step(step, context, refusals)], p=step.p) for step in sub.steps])
        for sub in plan.subpolicies
    ]
    refusals.raise_any()
    context.approximations.warn(stacklevel=4)
    return v2.RandomChoice(subpolicies, p=[sub.probability for sub in plan.subpolicies])


def to_torchvision(
    policy: Policy | str | os.PathLike[str],
    *,
    stock_only: bool = False,
    image_size: tuple[int, int] | None = None,
    dtype: torch.dtype | None = None,
    strict: bool = False,
) -> v2.Transform:
    """The policy as a torchvision transforms v2 transform.

    Args:
        policy: a :class:`~augmeta.Policy` or the path of a policy file.
        stock_only: return a composition of torchvision's own classes (``RandomChoice`` of sub-policies, each a
            ``Compose`` of ``RandomApply`` steps, signed and levelled values as ``RandomChoice`` of fixed-parameter
            transforms), so another project needs no augmeta; raise :class:`ExportError` naming the first op that
            stock classes cannot express. Without it, return a :class:`PolicyTransform`.
        image_size: ``(height, width)`` of the images, for ``stock_only``: translations become fixed pixel shifts
            (``Pad`` + ``CenterCrop``), valid for that size only.
        dtype: for ``stock_only``, the images the composition will see: ``torch.uint8`` (default; also PIL images)
            or a float dtype (values in [0, 1]); solarize thresholds and fills are written in its scale.
        strict: for ``stock_only``, refuse what stock classes can only approximate: a uniform magnitude of an op
            they set to one value (by default drawn from :data:`~augmeta.export.plan.EXPORT_LEVELS` evenly spaced
            values) and cutout (by default ``v2.RandomErasing`` of the same square, kept inside the image).

    Warns:
        UserWarning: ``stock_only``: one warning that lists every approximated op choice, and why.

    Raises:
        ExportError: ``stock_only`` and some ops have no stock equivalent; one error lists every field path.
    """
    policy = as_policy(policy)
    if not stock_only:
        if image_size is not None or dtype is not None or strict:
            raise ValueError("`image_size`, `dtype` and `strict` only apply with `stock_only=True`.")
        return PolicyTransform(policy)
    return _stock_composition(policy, check_image_size(image_size), dtype or torch.uint8, strict)
