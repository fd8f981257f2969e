"""The objective protocol: what :class:`augmeta.lightning.AugMetaModule` asks of every controller objective."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import nn

__all__ = ["Criterion", "MetaObjective"]

Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class MetaObjective(Protocol):
    """What the module asks of an objective: :meth:`image_gradient` at every controller step and :meth:`update`
    after every base optimiser step. Subclass it to inherit :meth:`update`'s default, which does nothing; an objective
    that does not subclass it defines both.

    An objective with ``pulls_controller = True`` moves the controller itself at a controller step, with
    ``pull(meta, model, images, labels)`` on held-out images, instead of handing back an image gradient; ``pull``
    returns False when it skipped the step (the model's outputs were not finite).
    """

    #: whether the module calls ``pull`` at a controller step rather than descending along :meth:`image_gradient`
    pulls_controller: bool = False

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
        train_param_grads: tuple[torch.Tensor, ...] | None = None,
    ) -> torch.Tensor:
        """d(objective)/d(images) for augmented training ``images``; the controller descends along it.

        ``train_image_grad`` and ``train_param_grads`` (``grad_x`` and ``grad_w`` of the unscaled training loss at
        ``images``, in ``model.parameters()`` order of those that require grad) may be handed in from the base step,
        which computed them already; an objective computes what it is not given.
        """
        raise NotImplementedError

    def update(self, model: nn.Module) -> None:
        """Follow the base ``model`` after one of its optimiser steps (called after every one, whether the controller
        stepped or not). The default does nothing: an objective that keeps no state of its own has nothing to follow."""
