"""The masked step under ``torch.compile``: the same images from a few fused kernels instead of one or more per op.

The masked path (:mod:`augmeta.policy.masked`) has fixed shapes and no host sync, so a whole step traces into one
graph, which ``torch.compile`` fuses: its pointwise arithmetic becomes a few generated kernels, where eagerly every
op's every tensor operation is a kernel launch of its own (what bounds a GPU step of small images). The images are
the masked path's bit for bit (``tests/policy/test_captured.py``): the compiler keeps each pointwise operation's
rounding, and the two parts it would round differently, the warp and the grey mean that contrast blends towards,
run eagerly before the compiled rest (:func:`augmeta.policy.masked.eager_parts`).

One compiled function per pass set, fill, interpolation and device type, each compiled again for a new image shape
or dtype, up to 8 of them (``dynamic=False``: the shapes a run uses are few and fixed; past 8, torch runs the step's
ops eagerly, with its own warning). Compiling takes seconds to a minute on the first call of each; where it fails
(no compiler, an unsupported backend) the step runs on the masked path, with one warning naming the error.
"""

from __future__ import annotations

import types
import warnings
from collections.abc import Callable, Iterable

import torch

from augmeta.policy.masked import apply_step_masked, combine, eager_parts, pass_names
from augmeta.policy.sampler import StepDraw

__all__ = ["apply_step_captured", "captured_functions"]

_Key = tuple[tuple[str, ...], tuple[float, ...], str, str]
_Combine = Callable[..., torch.Tensor]  # :func:`augmeta.policy.masked.combine`, compiled
_COMPILED: dict[_Key, _Combine] = {}
_FAILED: set[_Key] = set()  # compiled functions that could not compile: their steps run on the masked path


def captured_functions() -> int:
    """How many compiled step functions exist (one per pass set, fill, interpolation and device type)."""
    return len(_COMPILED)


def _compiled(key: _Key) -> _Combine:
    """The compiled step of ``key``, compiled from its own copy of :func:`augmeta.policy.masked.combine`'s code: torch
    keeps compiled graphs per code object, at most 8 (``recompile_limit``), so with one code for all, the ninth pass
    set, fill or image shape of a process would run eagerly."""
    if key not in _COMPILED:
        code = combine.__code__.replace(co_name=f"combine_{len(_COMPILED)}")
        own = types.FunctionType(code, combine.__globals__, code.co_name)
        _COMPILED[key] = torch.compile(own, dynamic=False)
    return _COMPILED[key]


def apply_step_captured(
    images: torch.Tensor,
    step: StepDraw,
    fill: tuple[float, ...],
    interpolation: str,
    ops: Iterable[str] | None = None,
) -> torch.Tensor:
    """:func:`augmeta.policy.masked.apply_step_masked`, compiled (the same arguments and images). Where autograd
    records the step (images or values that require grad) it runs uncompiled: compiled, the backward pass sums
    gradients in another order."""
    passes = pass_names(ops, images.shape[1])
    key = (passes, tuple(fill), interpolation, images.device.type)
    recorded = torch.is_grad_enabled() and (images.requires_grad or step.value.requires_grad)
    if not passes or key in _FAILED or recorded:
        return apply_step_masked(images, step, fill, interpolation, ops)
    warped, mean = eager_parts(images, step, passes, fill, interpolation)
    try:
        return _compiled(key)(images, step, warped, mean, passes, tuple(fill), interpolation)
    except Exception as error:  # noqa: BLE001  (a compiler's failure; a bad input fails the same way just below)
        out = combine(images, step, warped, mean, passes, fill, interpolation)
        _FAILED.add(key)
        warnings.warn(
            f"torch.compile could not compile the augmentation step ({type(error).__name__}: {str(error)[:200]}); "
            "its steps run on the masked path, uncompiled (the same images, more kernel launches).",
            RuntimeWarning,
            stacklevel=2,
        )
        return out
