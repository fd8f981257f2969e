"""The op registry: one frozen :class:`OpSpec` per augmentation op.

Every op maps a normalised magnitude ``m`` in [0, 1] to a physical value ``lo + m * (hi - lo)``
(negated per sample for signed ops) and hands that value to a batched kernel
``kernel(images[B, C, H, W] float in [0, 1], value[B], context) -> images``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch

from augmeta.ops.affine import AffineForm, inverse_matrices
from augmeta.ops.context import KernelContext, device_constant
from augmeta.ops.warp import warp

__all__ = ["OPS", "KernelContext", "OpSpec", "register_op"]

OpKind = Literal["identity", "geometric", "color", "erase"]
GradientKind = Literal["exact", "straight_through", "none"]
Kernel = Callable[[torch.Tensor, torch.Tensor, KernelContext], torch.Tensor]


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
