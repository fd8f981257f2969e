"""The op registry: one frozen :class:`OpSpec` per augmentation op.

Every op maps a normalised magnitude ``m`` in [0, 1] to a physical value ``lo + m * (hi - lo)``
(negated per sample for signed ops) and hands that value to a batched kernel
``kernel(images[B, C, H, W] float in [0, 1], value[B], context) -> images``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch

from augmeta.ops.affine import AffineForm, inverse_matrices

__all__ = ["OPS", "KernelContext", "OpSpec", "register_op"]

OpKind = Literal["identity", "geometric", "color", "erase"]
GradientKind = Literal["exact", "straight_through", "none"]
Interpolation = Literal["nearest", "bilinear"]


@dataclass(frozen=True)
class KernelContext:
    """Per-call settings a kernel may need besides the images and values.

    Attributes:
        fill: fill value per channel (or one value for all), in [0, 1].
        interpolation: ``"nearest"`` or ``"bilinear"`` for geometric ops.
        position: ``[B, 2]`` uniform numbers in [0, 1) (row, column) that place an erased patch;
            ``None`` for ops that do not use it.
    """

    fill: tuple[float, ...] = (0.0,)
    interpolation: Interpolation = "nearest"
    position: torch.Tensor | None = None

    def fill_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """The fill as a ``[1, C, 1, 1]`` tensor matching ``images``; one value is used for every channel."""
        channels = images.shape[1]
        if len(self.fill) not in (1, channels):
            raise ValueError(
                f"`fill` should have 1 value or one per channel ({channels}), but got {list(self.fill)} "
                f"for images of shape {tuple(images.shape)} instead."
            )
        return device_constant(self.fill, images.dtype, images.device).view(1, -1, 1, 1).expand(1, channels, 1, 1)

    def fills_with_zero(self, dtype: torch.dtype) -> bool:
        """Whether the fill is 0 in ``dtype``, decided on the host (asking a GPU tensor would wait for the GPU)."""
        return not torch.tensor(self.fill, dtype=dtype).any()

    def subset(self, index: torch.Tensor) -> KernelContext:
        """The same context for the samples ``index`` of the batch."""
        if self.position is None:
            return self
        return KernelContext(self.fill, self.interpolation, self.position[index])


Kernel = Callable[[torch.Tensor, torch.Tensor, KernelContext], torch.Tensor]

_CONSTANTS: OrderedDict[tuple, torch.Tensor] = OrderedDict()
#: How many tensors :func:`cached_tensor` keeps (the least recently used go first): some depend on the image size,
#: and a pipeline that augments images of many sizes one by one must not grow the cache without bound.
CACHE_SIZE = 64


def cached_tensor(key: tuple, make: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``make()``, made once per ``key`` (which should name the device) while it stays among the :data:`CACHE_SIZE`
    most recently used: each copy of host values to a GPU waits for the GPU, and each op a kernel dispatches costs
    host time, every step. Callers must not modify it (shared)."""
    if key in _CONSTANTS:
        _CONSTANTS.move_to_end(key)
        return _CONSTANTS[key]
    with torch.inference_mode(False):  # made in inference mode, autograd could not save it later
        tensor = _CONSTANTS[key] = make()
    while len(_CONSTANTS) > CACHE_SIZE:
        _CONSTANTS.popitem(last=False)
    return tensor


def device_constant(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``torch.tensor(values)`` on ``device``, made once (:func:`cached_tensor`)."""
    device = torch.device(device)
    return cached_tensor((tuple(values), dtype, device), lambda: torch.tensor(values, dtype=dtype, device=device))


@dataclass(frozen=True)
class OpSpec:
    """What an op is and how to run it.

    Attributes:
        name: the op's name in policy files (snake_case).
        kind: ``identity``, ``geometric`` (one shared affine warp), ``color`` or ``erase``.
        default_range: ``(lo, hi)`` physical values at m = 0 and m = 1, or ``None`` for ops without a magnitude.
        signed: whether the value is negated with probability 0.5 when sampled.
        gradient: how the output depends on the magnitude: ``exact``, ``straight_through`` or ``none``.
        unit: what the physical value measures, for people.
        limits: the physical values a policy file may ask for (both signs for signed ops); ``None`` without magnitude.
        kernel: the batched kernel.
        inverse_affine: for geometric ops, ``f(value[B], height, width) -> [B, 2, 3]`` inverse affine matrices
            in centred pixel coordinates; lets several geometric ops share one warp.
        affine_form: for geometric ops, ``f(height, width) -> AffineForm``, the closed form ``inverse_affine``
            computes, which lets a batch that mixes geometric ops compute all its matrices at once.
    """

    name: str
    kind: OpKind
    default_range: tuple[float, float] | None
    signed: bool
    gradient: GradientKind
    unit: str
    limits: tuple[float, float] | None
    kernel: Kernel = field(repr=False, compare=False)
    inverse_affine: Callable[[torch.Tensor, int, int], torch.Tensor] | None = field(
        default=None, repr=False, compare=False
    )
    affine_form: Callable[[int, int], AffineForm] | None = field(default=None, repr=False, compare=False)

    @property
    def has_magnitude(self) -> bool:
        return self.default_range is not None

    def value(
        self,
        magnitude: torch.Tensor,
        value_range: tuple[float, float] | None = None,
        sign: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Physical values ``lo + m * (hi - lo)``, times ``sign`` (+1/-1 per sample) when given.

        Ops without a magnitude return zeros of the magnitude's shape.
        """
        lo_hi = value_range if value_range is not None else self.default_range
        if lo_hi is None:
            return torch.zeros_like(magnitude)
        lo, hi = lo_hi
        physical = lo + magnitude * (hi - lo)
        return physical if sign is None else physical * sign


class _Registry(Mapping[str, OpSpec]):
    """A read-only name -> :class:`OpSpec` mapping; registering a name twice is an error."""

    def __init__(self) -> None:
        self._specs: dict[str, OpSpec] = {}

    def __getitem__(self, name: str) -> OpSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(f"Unknown op {name!r}; expected one of {sorted(self._specs)}.") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return f"OPS({sorted(self._specs)})"

    def add(self, spec: OpSpec) -> None:
        if spec.name in self._specs:
            raise ValueError(f"Op {spec.name!r} is already registered; op names must be unique.")
        self._specs[spec.name] = spec


OPS = _Registry()


def register_op(
    name: str,
    *,
    kind: OpKind,
    default_range: tuple[float, float] | None,
    signed: bool,
    gradient: GradientKind,
    unit: str,
    limits: tuple[float, float] | None = None,
) -> Callable[[Kernel], Kernel]:
    """Register the decorated kernel under ``name``. A second registration of a name raises ``ValueError``."""

    def decorate(kernel: Kernel) -> Kernel:
        OPS.add(OpSpec(name, kind, default_range, signed, gradient, unit, limits, kernel))
        return kernel

    return decorate


def register_geometric_op(
    name: str,
    *,
    default_range: tuple[float, float] | None,
    signed: bool,
    unit: str,
    limits: tuple[float, float] | None = None,
) -> Callable[[Callable[[int, int], AffineForm]], Callable[[int, int], AffineForm]]:
    """Register a geometric op from the closed form of its inverse affine matrix, ``f(height, width) ->
    AffineForm``; its kernel is the shared warp."""
    from augmeta.ops.warp import warp

    def decorate(affine_form: Callable[[int, int], AffineForm]) -> Callable[[int, int], AffineForm]:
        def inverse_affine(value: torch.Tensor, height: int, width: int) -> torch.Tensor:
            row = device_constant(affine_form(height, width).row(), torch.float64, value.device)
            return inverse_matrices(row.expand(value.shape[0], -1), value)

        def kernel(images: torch.Tensor, value: torch.Tensor, context: KernelContext) -> torch.Tensor:
            return warp(images, inverse_affine(value, images.shape[-2], images.shape[-1]), context)

        gradient: GradientKind = "exact" if default_range is not None else "none"
        OPS.add(
            OpSpec(name, "geometric", default_range, signed, gradient, unit, limits, kernel, inverse_affine,
                   affine_form=affine_form)
        )  # fmt: skip
        return affine_form

    return decorate
