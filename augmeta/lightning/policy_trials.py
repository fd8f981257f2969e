"""Held-out trials: which of a few candidate policies helps the model most, by training copies of it a while.

The affinity screen keeps the ops a model can read on held-out images; it cannot tell which of them help, nor whether
any does. A trial answers that directly, as a search over fixed policies does (PBA, Hyperband), but inside the run and
from where the run is: each candidate trains a copy of the model (and of its optimiser's state) for a number of base
steps on the run's own training batches, with the rest of the run's learning-rate schedule compressed into those
steps (so that a copy is judged where the run would end, at a low rate), and is scored by the copy's
mean cross-entropy on the held-out split the controller learns from. Every candidate sees the same batches and the same
random draws (common random numbers), and all are scored on the same held-out images, so the comparison is paired:
:func:`chosen` keeps the reference (the screen's own policy) unless another candidate's per-image losses are lower
by more than ``z`` standard errors of their paired difference, so that a small held-out split, or many candidates,
cannot pick an op by chance. The RNG of the run is left as it was, so a run resumed from a checkpoint before the
trials draws them again exactly.

The horizon matters: a few epochs favour no augmentation, since an augmented model needs time to use what it sees
(the short-horizon bias); research/README.md (round 18) has the horizons measured.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as nnf
from torch import nn

from augmeta.meta import MetaNetwork

__all__ = ["TrialScores", "chosen", "trial_losses"]

#: The seed every candidate's augmentation draws start from (the same for all: the comparison is paired).
TRIAL_SEED = 20_261_206


@dataclass(frozen=True)
class TrialScores:
    """What the trials measured, per candidate (``[C]`` float64 on the CPU)."""

    #: mean held-out cross-entropy of the candidate's copy
    losses: torch.Tensor
    #: mean over the held-out images of (the reference's loss - the candidate's): > 0 where the candidate is better
    gains: torch.Tensor
    #: standard error of that mean (0 for the reference itself)
    errors: torch.Tensor


def chosen(scores: TrialScores, reference: int, z: float = 2.0) -> int:
    """The candidate whose gain over the ``reference`` is largest once ``z`` standard errors are taken off it, where
    that is above 0; else the reference."""
    lower = scores.gains - z * scores.errors
    lower[reference] = 0.0
    best = int(torch.argmax(lower))
    return best if float(lower[best]) > 0.0 else reference


def _cycled(make_loader: Callable[[], object]) -> Iterator:
    """Batches of one fresh loader, pass after pass (a shuffled loader draws a new order, and leaves out other
    images, on each pass)."""
    loader = make_loader()
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("the training loader of the policy trials yielded no batch: the training split is empty.")


def trial_losses(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    policies: list[MetaNetwork],
    train_batches: Callable[[], object],
    prepare: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    held_out: Callable[[], object],
    steps: int,
    lr_factor: Callable[[int], float],
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    average: Callable[[torch.Tensor], torch.Tensor] | None = None,
    augmenting: Callable[[int], bool] = lambda step: True,
    reference: int = 0,
) -> TrialScores:
    """Per policy, the held-out cross-entropy of a copy of ``model`` trained ``steps`` base steps with it, and its
    paired gain over the ``reference`` policy's.

    Args:
        model: the run's model; it is copied, never changed.
        optimizer: the run's base optimiser; each copy gets one of its class, with its state and hyper-parameters.
        policies: the candidates, as controllers (applied without gradients, as a fixed policy would be).
        train_batches: makes a fresh loader of ``(images, labels)`` training batches (the same batches for every
            candidate: a new loader each, iterated pass after pass).
        prepare: a loader's batch as the run trains on it before augmentation (on the device, float, the base
            recipe's crop and flip).
        held_out: makes an iterable of ``(images, labels)`` held-out batches as the model reads them (on the
            device, float).
        steps: base steps each copy trains.
        lr_factor: the learning-rate factor (of each group's ``initial_lr``) at the ``i``-th trial step.
        criterion: the run's training loss.
        average: the mean of a tensor over processes (DDP: each trains its copies on its own share of the batches
            and scores them on the whole held-out split), so that every process reaches the same verdict; None: one.
        augmenting: whether the ``i``-th trial step applies the policy (the run's ``augment_until``, in brief).
        reference: the index of the policy the others' gains are measured against.
    """
    if steps < 1:
        raise ValueError(f"`steps` should be an integer >= 1, but got {steps!r} instead.")
    device = next(model.parameters()).device
    devices = [device] if device.type == "cuda" else []
    per_image = []
    for policy in policies:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(TRIAL_SEED)
            copied = copy.deepcopy(model).train()
            trial_optimizer = _copied_optimizer(optimizer, copied)
            batches = _cycled(train_batches)
            for step in range(steps):
                for group in trial_optimizer.param_groups:
                    group["lr"] = group.get("initial_lr", group["lr"]) * lr_factor(step)
                images, labels = prepare(*next(batches))
                if augmenting(step):
                    with torch.no_grad():
                        images = policy.augment(images, labels).images
                loss = criterion(copied(images), labels)
                trial_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                trial_optimizer.step()
            per_image.append(_held_out_losses(copied.eval(), held_out))
    losses = torch.stack(per_image)  # [C, images], the same images in every process
    if average is not None:
        losses = average(losses)
    gains = losses[reference] - losses
    count = gains.shape[1]
    spread = gains.std(dim=1, correction=1) if count > 1 else torch.zeros_like(gains[:, 0])
    return TrialScores(losses.mean(1).cpu(), gains.mean(1).cpu(), (spread / count**0.5).cpu())


def _copied_optimizer(optimizer: torch.optim.Optimizer, model: nn.Module) -> torch.optim.Optimizer:
    """An optimiser of ``optimizer``'s class over ``model``'s parameters, with its groups' settings and its state."""
    trial = type(optimizer)(model.parameters(), **optimizer.defaults)
    trial.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    return trial


@torch.no_grad()
def _held_out_losses(model: nn.Module, held_out: Callable[[], object]) -> torch.Tensor:
    """Per held-out image, in the loader's order, the cross-entropy of ``model`` (float64, on its device)."""
    losses = []
    for images, labels in held_out():
        losses.append(nnf.cross_entropy(model(images).float(), labels, reduction="none").double())
    if not losses:
        raise ValueError("the held-out loader of the policy trials yielded no batch: the split is empty.")
    return torch.cat(losses)
