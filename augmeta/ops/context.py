"""What every kernel shares: the per-call :class:`KernelContext` and the cache of device constants.

It imports nothing else of :mod:`augmeta.ops`, so the registry, the warp and the kernels can all build on it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import torch

__all__ = ["CACHE_SIZE", "Interpolation", "KernelContext", "as_dtype", "cached_tensor", "device_constant", "on_device"]

#: How many host-side answers (such as whether a fill is zero in a dtype) are kept.
CACHE_SIZE_HOST = 256

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
        values, dtype, device = tuple(self.fill) * (channels // len(self.fill)), images.dtype, images.device
        return cached_tensor(
            ("fill", values, dtype, device), lambda: torch.tensor(values, dtype=dtype, device=device).view(1, -1, 1, 1)
        )

    def fills_with_zero(self, dtype: torch.dtype) -> bool:
        """Whether the fill is 0 in ``dtype``, decided on the host (asking a GPU tensor would wait for the GPU)."""
        return _zero_in(tuple(self.fill), dtype)

    def subset(self, index: torch.Tensor) -> KernelContext:
        """The same context for the samples ``index`` of the batch."""
        if self.position is None:
            return self
        return KernelContext(self.fill, self.interpolation, self.position[index])


def as_dtype(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``tensor`` in ``dtype``: itself when it already is (``Tensor.to`` would still dispatch an op, a launch's worth of
    host time on a GPU)."""
    return tensor if tensor.dtype == dtype else tensor.to(dtype)


def on_device(tensor: torch.Tensor, device: torch.device | str, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``tensor`` on ``device`` (and in ``dtype``, if given): itself when it already is, as for :func:`as_dtype`."""
    device, dtype = torch.device(device), dtype or tensor.dtype
    return tensor if (tensor.device, tensor.dtype) == (device, dtype) else tensor.to(device, dtype)


@lru_cache(maxsize=CACHE_SIZE_HOST)
def _zero_in(fill: tuple[float, ...], dtype: torch.dtype) -> bool:
    return not torch.tensor(fill, dtype=dtype).any()


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
    """``torch.tensor(values, dtype=dtype)`` on ``device``, made once (:func:`cached_tensor`); callers must not
    modify it (shared)."""
    device = torch.device(device)
    return cached_tensor((tuple(values), dtype, device), lambda: torch.tensor(values, dtype=dtype, device=device))
