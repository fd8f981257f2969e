"""Objectives that turn "generalise better on held-out data" into a gradient for the augmented images.

The controller's gradient is the gradient of an objective w.r.t. the augmented training images, pushed back
through the (differentiable) augmentation into the controller. An objective implements :class:`MetaObjective`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import torch
from torch import nn

__all__ = ["LookaheadObjective", "MetaObjective", "preserved_batchnorm"]

Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class MetaObjective(Protocol):
    def image_gradient(
        self,
        model: nn.Module,
        criterion: Criterion,
        images: torch.Tensor,
        labels: torch.Tensor,
        val_images: torch.Tensor,
        val_labels: torch.Tensor,
        step_size: float,
        train_image_grad: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """d(objective)/d(images) for augmented training ``images``; the controller descends along it."""


@contextmanager
def preserved_batchnorm(model: nn.Module) -> Iterator[None]:
    """Run extra forward passes without moving BatchNorm running statistics."""
    saved = [
        (buffer, buffer.detach().clone())
        for name, buffer in model.named_buffers()
        if "running" in name or "num_batches" in name
    ]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, copy in saved:
                buffer.copy_(copy)


def _image_grad(model: nn.Module, criterion: Criterion, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    leaf = images.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(criterion(model(leaf), labels), leaf)
    return grad


class LookaheadObjective:
    """Validation loss after one lookahead SGD step of the base model (DARTS / DADA), to first order.

    With base weights w, step size xi, training loss L_t on augmented images x(phi) and validation loss L_v:
    ``L_v(w - xi * grad_w L_t(w, x)) ~ L_v(w) - xi * <grad_w L_t(w, x), v>`` with ``v = grad_w L_v(w)``, so
    ``d/dx = -xi * d/dx <grad_w L_t(w, x), v>``: a Hessian-vector product, taken by finite differences
    ``(grad_x L_t(w + eps v, x) - grad_x L_t(w, x)) / eps`` (two cheap passes, no second-order autograd).
    ``grad_x L_t(w, x)`` can be handed in from the base step so a meta step costs two extra forward/backward passes.

    Args:
        epsilon: finite-difference step, relative to ``|v|``.
    """

    def __init__(self, epsilon: float = 0.01) -> None:
        if not epsilon > 0:
            raise ValueError(f"`epsilon` should be > 0, but got {epsilon!r} instead.")
        self.epsilon = epsilon

    def image_gradient(
        self,
        model: nn.Module,
        criterion: Criterion,
        images: torch.Tensor,
        labels: torch.Tensor,
        val_images: torch.Tensor,
        val_labels: torch.Tensor,
        step_size: float,
        train_image_grad: torch.Tensor | None = None,
    ) -> torch.Tensor:
        params = [p for p in model.parameters() if p.requires_grad]
        with preserved_batchnorm(model):
            val_grads = torch.autograd.grad(criterion(model(val_images), val_labels), params)
            norm = torch.sqrt(sum((g.float() ** 2).sum() for g in val_grads))
            eps = self.epsilon / (norm + 1e-12)
            if train_image_grad is None:
                train_image_grad = _image_grad(model, criterion, images, labels)
            originals = [p.detach().clone() for p in params]
            try:
                with torch.no_grad():
                    for p, g in zip(params, val_grads, strict=True):
                        p.add_(eps * g)
                perturbed = _image_grad(model, criterion, images, labels)
            finally:
                with torch.no_grad():
                    for p, original in zip(params, originals, strict=True):
                        p.copy_(original)
        return -step_size * (perturbed - train_image_grad) / eps
