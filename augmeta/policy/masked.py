"""Apply one step's draws with fixed shapes: every op the draws *can* hold runs on the whole batch, and each image
keeps the result of the op it drew (all results stacked, one lookup per image).

The grouped applier (:mod:`augmeta.policy.applier`) gathers the images of each op drawn and scatters them back,
which needs the group sizes on the host (one sync per step) and costs a gather, a kernel and a scatter per op
present. Here the work depends only on which ops a policy offers, known before any draw: no host sync, the same
launches every step (so a step can be captured: :mod:`augmeta.policy.captured`), and no gathers. It does more
arithmetic (every offered op on every image) and holds every pass's result at once, which a GPU has to spare and a
CPU does not; :func:`augmeta.policy.applier.apply_step` picks the path.

Each op runs through its registered kernel, and kernels treat every image on its own, so an image comes out as the
grouped path makes it. Ops of one form share a pass: all geometric ops one warp; brightness, contrast and color one
blend towards a per-image degenerate image; solarize and invert one threshold (invert is a threshold of 0).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

import torch

from augmeta.ops import OPS, KernelContext, device_constant, geometric_warp
from augmeta.ops.color import blend_towards, greyscale
from augmeta.ops.context import cached_tensor
from augmeta.policy.sampler import OP_NAMES, StepDraw

__all__ = ["apply_step_masked", "combine", "eager_parts", "pass_names"]

#: Ops folded into one blend ``clamp(f * x + (1 - f) * degenerate)`` with ``f = 1 + value``.
_BLEND = ("brightness", "contrast", "color")
#: Ops folded into one threshold ``where(x >= t, 1 - x, x)``: solarize at its value, invert at 0.
_THRESHOLD = ("solarize", "invert")


def _pass_of(name: str, channels: int) -> str | None:
    """The pass op ``name`` runs in on images of ``channels`` channels (``None``: it is the identity there)."""
    if name == "identity" or (name == "color" and channels == 1):  # saturation is the identity on one channel
        return None
    if OPS[name].kind == "geometric":
        return "geometric"
    return "blend" if name in _BLEND else "threshold" if name in _THRESHOLD else name


def pass_names(ops: Iterable[str] | None, channels: int) -> tuple[str, ...]:
    """The passes a step runs for draws among ``ops`` (every registered op when ``None``) on images of ``channels``
    channels: ``"geometric"``, ``"blend"``, ``"threshold"`` and each other op's own name, in registry order."""
    return _passes(None if ops is None else frozenset(ops), channels)


@lru_cache(maxsize=256)
def _passes(ops: frozenset[str] | None, channels: int) -> tuple[str, ...]:
    passes = [_pass_of(name, channels) for name in OP_NAMES if ops is None or name in ops]
    return tuple(dict.fromkeys(p for p in passes if p is not None))


def _slots(passes: tuple[str, ...], channels: int, device: torch.device) -> torch.Tensor:
    """``[len(OP_NAMES)]`` long: the piece op ``i`` keeps, 0 for the images as they are, ``p + 1`` for pass ``p``."""
    return device_constant(_slot_row(passes, channels), torch.long, device)


def _host_table(build: Callable[..., tuple]) -> Callable[..., tuple]:
    """``build`` made once per arguments (a host-side table of Python values) and, to a compiled step, a constant
    that is not traced: torch would trace the cache wrapper's function on every compile, with a warning."""
    cached = lru_cache(maxsize=256)(build)

    @torch.compiler.assume_constant_result
    def table(*args: object) -> tuple:
        return cached(*args)

    return table


@_host_table
def _slot_row(passes: tuple[str, ...], channels: int) -> tuple[int, ...]:
    return tuple(passes.index(p) + 1 if (p := _pass_of(name, channels)) in passes else 0 for name in OP_NAMES)


def _rows(batch: int, device: torch.device) -> torch.Tensor:
    """``arange(batch)`` on ``device``, made once (:func:`cached_tensor`)."""
    return cached_tensor(("rows", batch, device), lambda: torch.arange(batch, device=device))


def _op_flags(names: tuple[str, ...], device: torch.device) -> torch.Tensor:
    """``[len(OP_NAMES), len(names)]`` bool: whether op ``i`` is ``names[j]``."""
    return device_constant(_flag_rows(names), torch.bool, device)


@_host_table
def _flag_rows(names: tuple[str, ...]) -> tuple[tuple[bool, ...], ...]:
    return tuple(tuple(op == name for name in names) for op in OP_NAMES)


def _blend(images: torch.Tensor, step: StepDraw, mean: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast and color (on RGB) at once: each image blends towards its own op's degenerate image
    (``mean``: each image's mean grey level, ``[B, 1, 1, 1]``, what contrast blends towards)."""
    towards_mean, towards_grey = (
        _op_flags(("contrast", "color"), images.device).index_select(0, step.op).view(-1, 2, 1, 1, 1).unbind(1)
    )
    degenerate = torch.where(towards_mean, mean, 0.0)
    if images.shape[1] > 1:
        degenerate = torch.where(towards_grey, greyscale(images), degenerate)
    return blend_towards(images, degenerate, step.value)


def _threshold(images: torch.Tensor, step: StepDraw) -> torch.Tensor:
    """Solarize and invert at once: invert is solarize's threshold of 0 (every pixel in [0, 1] is at or above it)."""
    is_solarize = _op_flags(("solarize",), images.device).index_select(0, step.op).squeeze(1)
    return OPS["solarize"].kernel(images, torch.where(is_solarize, step.value, 0.0), KernelContext())


def apply_step_masked(
    images: torch.Tensor, step: StepDraw, fill: tuple[float, ...], interpolation: str, ops: Iterable[str] | None = None
) -> torch.Tensor:
    """Apply one step's draws to float ``[B, C, H, W]`` images, every pass on the whole batch.

    Args:
        images: float ``[B, C, H, W]`` in [0, 1]; not modified.
        step: the draws; each ``step.op`` must be among ``ops``.
        fill, interpolation: as for geometric and erasing ops.
        ops: the ops the draws can hold (a policy's or a controller's op set); ``None`` for every registered op.

    Returns:
        A new tensor (the images themselves when ``ops`` offers nothing but the identity).
    """
    passes = pass_names(ops, images.shape[1])
    if not passes:
        return images
    return combine(images, step, *eager_parts(images, step, passes, fill, interpolation), passes, fill, interpolation)


def eager_parts(
    images: torch.Tensor, step: StepDraw, passes: tuple[str, ...], fill: tuple[float, ...], interpolation: str
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The parts of a step that a compiled step (:mod:`augmeta.policy.captured`) leaves to eager ops, because
    compiled they would round differently: the geometric pass's warp (``None`` without one; compiled, the grid
    sampler is decomposed into other arithmetic, which moves nearest sampling's ties) and each image's mean grey
    level, ``[B, 1, 1, 1]``, that contrast blends towards (``None`` without a blend pass; a compiled reduction sums
    in another order)."""
    warped = mean = None
    if "geometric" in passes:
        warped = geometric_warp(images, OP_NAMES, step.op, step.value, KernelContext(fill, interpolation))
    if "blend" in passes:
        mean = greyscale(images).mean(dim=(1, 2, 3), keepdim=True)
    return warped, mean


def combine(
    images: torch.Tensor,
    step: StepDraw,
    warped: torch.Tensor | None,
    mean: torch.Tensor | None,
    passes: tuple[str, ...],
    fill: tuple[float, ...],
    interpolation: str,
) -> torch.Tensor:
    """The rest of a step: every other pass on the whole batch, then each image takes the piece of the op it drew
    (one stack and one lookup, whatever the number of passes). ``warped`` and ``mean``: :func:`eager_parts`."""
    context = KernelContext(fill=fill, interpolation=interpolation)
    pieces = [images]
    for name in passes:
        if name == "geometric":
            piece = warped
        elif name == "blend":
            piece = _blend(images, step, mean)
        elif name == "threshold":
            piece = _threshold(images, step)
        else:
            spec = OPS[name]
            own = KernelContext(fill, interpolation, step.position) if spec.kind == "erase" else context
            piece = spec.kernel(images, step.value, own)
        pieces.append(piece)
    slot = _slots(passes, images.shape[1], images.device).index_select(0, step.op)
    return torch.stack(pieces)[slot, _rows(images.shape[0], images.device)]
