"""Objectives that turn "generalise better on held-out data" into a gradient for the augmented images.

The controller's gradient is the gradient of an objective w.r.t. the augmented training images, pushed back
through the (differentiable) augmentation into the controller. An objective implements :class:`MetaObjective`;
:func:`build_objective` builds one by name (:data:`OBJECTIVES`) with its settings.
"""

from __future__ import annotations

import copy
import inspect
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial

import torch
from torch import nn

from augmeta.meta.affinity import AffinityObjective
from augmeta.meta.objective_protocol import Criterion, MetaObjective

__all__ = [
    "OBJECTIVES",
    "OBJECTIVE_BURN_IN",
    "AffinityObjective",
    "GradientMatchingObjective",
    "ImplicitObjective",
    "LookaheadObjective",
    "MetaObjective",
    "TeacherObjective",
    "build_objective",
    "full_precision",
    "non_saturating_loss",
    "objective_arguments",
    "preserved_batchnorm",
    "reduced_precision",
    "tensors_norm",
    "weight_hessian_vector",
]


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


def reduced_precision(device: torch.device) -> bool:
    """Whether passes on ``device`` may run below float32 right now: under autocast (bf16 / fp16 mixed precision),
    and always on CUDA, whose convolutions run in TF32 by default (about 3 significant digits)."""
    return torch.is_autocast_enabled(device.type) or device.type == "cuda"


def _tf32_switches() -> list[tuple[object, str, object]]:
    """(settings object, attribute, value that turns TF32 off) for CUDA's convolutions and matrix products: the
    ``fp32_precision`` settings from torch 2.9 (reading the older ``allow_tf32`` flags there warns), else those."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        return [(conv, "fp32_precision", "ieee"), (torch.backends.cuda.matmul, "fp32_precision", "ieee")]
    return [(torch.backends.cudnn, "allow_tf32", False), (torch.backends.cuda.matmul, "allow_tf32", False)]


@contextmanager
def full_precision(device: torch.device) -> Iterator[None]:
    """Passes at the parameters' own precision: autocast off and, on CUDA, no TF32 (restored afterwards).

    A finite difference moves each weight by about 1e-4 of its size, below bf16's and TF32's resolution (4e-3 and
    5e-4), so at those precisions the perturbed gradient differs from the unperturbed one by rounding alone.
    """
    switches = _tf32_switches() if device.type == "cuda" else []
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in switches]
    try:
        for owner, name, off in switches:
            setattr(owner, name, off)
        with torch.autocast(device.type, enabled=False):
            yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


@contextmanager
def _perturbed_weights(params: list[nn.Parameter], direction: tuple[torch.Tensor, ...], eps: torch.Tensor):
    """The weights moved to ``w + eps * direction`` inside the block, restored exactly afterwards."""
    originals = [p.detach().clone() for p in params]
    try:
        with torch.no_grad():
            for p, d in zip(params, direction, strict=True):
                p.add_(eps * d)
        yield
    finally:
        with torch.no_grad():
            for p, original in zip(params, originals, strict=True):
                p.copy_(original)


def tensors_norm(tensors: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The Euclidean norm of ``tensors`` taken together (one vector split over parameters), computed in float32."""
    return torch.sqrt(sum((t.float() ** 2).sum() for t in tensors))


def _image_grad(model: nn.Module, criterion: Criterion, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    leaf = images.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(criterion(model(leaf), labels), leaf)
    return grad


def _param_and_image_grads(
    model: nn.Module, criterion: Criterion, images: torch.Tensor, labels: torch.Tensor, params: list[nn.Parameter]
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """``grad_w`` and ``grad_x`` of the loss at ``images``, from one forward and one backward pass."""
    leaf = images.detach().requires_grad_(True)
    *param_grads, image_grad = torch.autograd.grad(criterion(model(leaf), labels), [*params, leaf])
    return tuple(param_grads), image_grad


def weight_hessian_vector(
    model: nn.Module,
    criterion: Criterion,
    images: torch.Tensor,
    labels: torch.Tensor,
    params: list[nn.Parameter],
    g: tuple[torch.Tensor, ...],
    u: tuple[torch.Tensor, ...],
    epsilon: float = 0.01,
) -> tuple[torch.Tensor, ...]:
    """``H_w u``, the loss's Hessian w.r.t. ``params`` times ``u``, by the finite difference
    ``(grad_w L(w + eps u, x) - g) / eps`` with ``g = grad_w L(w, x)`` and ``eps = epsilon / |u|``: one more pass."""
    eps = epsilon / (tensors_norm(u) + 1e-12)
    with _perturbed_weights(params, u, eps):
        perturbed = torch.autograd.grad(criterion(model(images), labels), params)
    return tuple((a - b) / eps for a, b in zip(perturbed, g, strict=True))


class _FiniteDifferenceObjective(MetaObjective):
    """Shared by the objectives that take a Hessian-vector product by finite differences: ``epsilon``, the step
    relative to the direction's norm, and :meth:`image_gradient`, which takes the product at full precision along
    the subclass's :meth:`_direction`."""

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
        train_param_grads: tuple[torch.Tensor, ...] | None = None,
    ) -> torch.Tensor:
        """See :class:`MetaObjective`. Runs at full precision (:func:`full_precision`): where the base step ran at
        reduced precision, the gradients it hands in are recomputed, since the finite difference subtracts from them.

        Both objectives differentiate along a direction built from the validation gradient ``v`` (and the training
        gradient ``g``): ``scale * H_x direction``, with ``(direction, scale)`` from :meth:`_direction`."""
        if reduced_precision(images.device):
            train_image_grad = train_param_grads = None
        params = [p for p in model.parameters() if p.requires_grad]
        images, val_images = images.to(params[0].dtype), val_images.to(params[0].dtype)
        with full_precision(images.device), preserved_batchnorm(model):
            v = torch.autograd.grad(criterion(model(val_images), val_labels), params)
            g, train_image_grad = self._training_gradients(
                model, criterion, images, labels, params, train_param_grads, train_image_grad
            )
            curvature = partial(
                weight_hessian_vector, model, criterion, images, labels, params, g, epsilon=self.epsilon
            )
            direction, scale = self._direction(v, g, step_size, curvature)
            return scale * self._hessian_vector(model, criterion, images, labels, params, direction, train_image_grad)

    #: Whether :meth:`_direction` uses ``g``, the training loss's parameter gradient.
    uses_training_gradient = False

    def _training_gradients(
        self,
        model: nn.Module,
        criterion: Criterion,
        images: torch.Tensor,
        labels: torch.Tensor,
        params: list[nn.Parameter],
        param_grads: tuple[torch.Tensor, ...] | None,
        image_grad: torch.Tensor | None,
    ) -> tuple[tuple[torch.Tensor, ...] | None, torch.Tensor]:
        """``g`` (where :meth:`_direction` uses it) and ``grad_x`` of the training loss: those handed in, the others
        computed, in one pass where both are missing."""
        if self.uses_training_gradient and param_grads is None and image_grad is None:
            return _param_and_image_grads(model, criterion, images, labels, params)
        if self.uses_training_gradient and param_grads is None:
            param_grads = torch.autograd.grad(criterion(model(images), labels), params)
        if image_grad is None:
            image_grad = _image_grad(model, criterion, images, labels)
        return param_grads, image_grad

    def _direction(
        self,
        v: tuple[torch.Tensor, ...],
        g: tuple[torch.Tensor, ...] | None,
        step_size: float,
        curvature: Callable[[tuple[torch.Tensor, ...]], tuple[torch.Tensor, ...]],
    ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor | float]:
        """The direction of the Hessian-vector product and the factor of its result. ``curvature(u)`` is ``H_w u``,
        the training loss's Hessian w.r.t. the weights times ``u`` (one more pass each call; needs ``g``)."""
        raise NotImplementedError

    def _hessian_vector(
        self,
        model: nn.Module,
        criterion: Criterion,
        images: torch.Tensor,
        labels: torch.Tensor,
        params: list[nn.Parameter],
        direction: tuple[torch.Tensor, ...],
        train_image_grad: torch.Tensor,
    ) -> torch.Tensor:
        """``H_x d = d/dx <grad_w L_t(w, x), d>`` by a finite difference along ``d`` of step ``epsilon / |d|``."""
        eps = self.epsilon / (tensors_norm(direction) + 1e-12)
        with _perturbed_weights(params, direction, eps):
            perturbed = _image_grad(model, criterion, images, labels)
        return (perturbed - train_image_grad) / eps


class LookaheadObjective(_FiniteDifferenceObjective):
    """Validation loss after one lookahead SGD step of the base model (DARTS / DADA), to first order.

    With base weights w, step size xi, training loss L_t on augmented images x(phi) and validation loss L_v:
    ``L_v(w - xi * grad_w L_t(w, x)) ~ L_v(w) - xi * <grad_w L_t(w, x), v>`` with ``v = grad_w L_v(w)``, so
    ``d/dx = -xi * d/dx <grad_w L_t(w, x), v>``: a Hessian-vector product, taken by finite differences
    ``(grad_x L_t(w + eps v, x) - grad_x L_t(w, x)) / eps`` (two cheap passes, no second-order autograd).
    ``grad_x L_t(w, x)`` can be handed in from the base step so a meta step costs two extra forward/backward passes.

    Args:
        epsilon: finite-difference step, relative to ``|v|``.
    """

    def _direction(self, v, g, step_size, curvature):
        """Along ``v``, times ``-xi``."""
        return v, -step_size


class GradientMatchingObjective(_FiniteDifferenceObjective):
    """Align the training gradient on augmented images with the validation gradient (DeepAA's gradient matching).

    Minimises ``-cos(g, v)`` with ``g = grad_w L_t(w, x)`` and ``v = grad_w L_v(w)``. Unlike the lookahead's dot
    product it cannot be improved by merely making ``g`` larger (harder images), which removes the one-step
    lookahead's bias towards strong augmentation. ``d cos / dx = H_x u / (|g|^3 |v|)`` with the mixed Hessian
    ``H_x = d/dx grad_w L_t`` and ``u = |g|^2 v - (g.v) g``: one Hessian-vector product, taken by finite differences.
    With the base step's ``g`` and image gradient handed in, a controller step costs two extra passes: the
    validation gradient and one perturbed image gradient.
    """

    uses_training_gradient = True

    def _direction(self, v, g, step_size, curvature):
        """Along ``u = |g|^2 v - (g.v) g``, times ``-1 / (|g|^3 |v|)``."""
        v_norm, g_norm = tensors_norm(v), tensors_norm(g)
        dot = sum((a.float() * b.float()).sum() for a, b in zip(g, v, strict=True))
        u = tuple(g_norm**2 * b.float() - dot * a.float() for a, b in zip(g, v, strict=True))
        return u, -1.0 / (g_norm**3 * v_norm + 1e-12)


class ImplicitObjective(_FiniteDifferenceObjective):
    """Validation loss at the base model's optimum, by the implicit function theorem (Lorraine, Vicol & Duvenaud,
    AISTATS 2020, who learned an augmentation network this way).

    Where the weights minimise the training loss on images ``x``, ``dL_v/dx = -d/dx <grad_w L_t(w, x), H_w^-1 v>``
    with ``H_w`` the training loss's Hessian w.r.t. the weights. ``H_w^-1 v`` is the truncated Neumann series
    ``alpha * sum_{j <= terms} (I - alpha H_w)^j v``, the same as differentiating the validation loss through
    ``terms + 1`` plain gradient steps of size ``alpha`` (``terms=0`` is the one-step lookahead's direction). The
    series damps the sharp directions of ``v``, which the base steps settle soon whatever the images, and keeps the
    flat ones, where the images decide where the weights end up: the one-step objectives weigh both alike. It is meant
    as a way past their short-horizon bias (measurements: research/README.md).

    ``alpha`` is a setting of its own, not the base step size: each eigenvalue ``lambda`` of ``H_w`` scales its part
    of a term by ``1 - alpha * lambda``, so the sharp directions grow where ``alpha * lambda_max > 2`` and the
    negative curvature of a loss away from its minimum grows at any ``alpha``; the default is small enough for the
    curvature of the small ResNets on Fashion-MNIST (``python research/neumann_series.py``; measurements:
    research/README.md). Each term costs one more forward/backward pass on the training images (``H_w`` by a finite
    difference of their weight gradient): a controller step costs ``terms`` passes more than the lookahead's.

    Args:
        epsilon: finite-difference step, relative to the direction's norm.
        terms: Neumann terms after the first.
        alpha: the series' step size.
    """

    uses_training_gradient = True

    def __init__(self, epsilon: float = 0.01, terms: int = 5, alpha: float = 0.01) -> None:
        super().__init__(epsilon)
        if type(terms) is not int or terms < 0:
            raise ValueError(f"`terms` should be an integer >= 0, but got {terms!r} instead.")
        if not alpha > 0:
            raise ValueError(f"`alpha` should be > 0, but got {alpha!r} instead.")
        self.terms, self.alpha = terms, alpha

    def _direction(self, v, g, step_size, curvature):
        """Along ``sum_j (I - alpha H_w)^j v``, times ``-alpha``."""
        term, total = v, v
        for _ in range(self.terms):
            curved = curvature(term)
            term = tuple(t - self.alpha * c for t, c in zip(term, curved, strict=True))
            total = tuple(a + b for a, b in zip(total, term, strict=True))
        return total, -self.alpha


class TeacherObjective(nn.Module, MetaObjective):
    """TeachAugment (Suzuki, CVPR 2022): augment so the model finds images hard that its EMA teacher still knows.

    The controller minimises ``A(model, x) + L(teacher, x)`` on the augmented training images ``x``, where ``L`` is
    the cross-entropy, the teacher is an exponential moving average of the model's weights and ``A`` is the
    adversarial term. Harder images lower the first term; images the teacher no longer recognises (the label
    destroyed) raise the second, so the pair pushes towards the strongest augmentation that keeps the class. It needs
    no held-out data (the validation batch is ignored).

    ``adversarial="cross_entropy"`` (objective ``teacher``): ``A = -L(model, x)``, whose push grows as an image gets
    harder, so it keeps hardening images the model already fails on; it reuses the base step's image gradient, so a
    controller step costs one forward/backward of the teacher. ``"non_saturating"`` (objective ``teacher_ns``, the
    paper's): ``A = -log(1 - p_y)``, whose push fades once the model gets an image wrong, so it hardens the images
    the model still finds easy; one more forward/backward of the model per controller step.

    It is an ``nn.Module`` so the teacher travels with the Lightning module: moved to its device, saved in its
    checkpoints (exact resume) and restored from them. Call :meth:`update` after every base optimiser step.

    Args:
        model: the base model; the teacher starts as its copy.
        decay: EMA decay of the teacher, ramped as ``min(decay, (1 + n) / (10 + n))`` over the first updates so a
            short run's teacher does not stay at the initial weights.
        adversarial: ``cross_entropy`` or ``non_saturating``, the adversarial term ``A`` above.
    """

    ADVERSARIAL = ("cross_entropy", "non_saturating")

    def __init__(self, model: nn.Module, decay: float = 0.99, adversarial: str = "cross_entropy") -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"`decay` should be in [0, 1), but got {decay!r} instead.")
        if adversarial not in self.ADVERSARIAL:
            raise ValueError(f"`adversarial` should be one of {list(self.ADVERSARIAL)}, but got {adversarial!r}.")
        self.decay, self.adversarial = decay, adversarial
        self.teacher = copy.deepcopy(model).requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the teacher's weights towards ``model``'s by the EMA step; copy its buffers (BatchNorm statistics)."""
        # the decay stays on the device: reading the step count back (`int(self.updates)`) would stall every step
        n = self.updates.to(torch.float64)
        weight = 1.0 - torch.clamp((1.0 + n) / (10.0 + n), max=self.decay)
        teacher = list(self.teacher.parameters())
        weights = {dtype: weight.to(dtype) for dtype in {p.dtype for p in teacher}}
        student = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(teacher, student, [weights[p.dtype] for p in teacher])  # as timm's model EMA
        for mine, theirs in zip(self.teacher.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)
        self.updates += 1

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
        if self.adversarial == "non_saturating":
            with preserved_batchnorm(model):
                adversarial_grad = _image_grad(model, non_saturating_loss, images, labels)
        else:
            if train_image_grad is None:
                with preserved_batchnorm(model):
                    train_image_grad = _image_grad(model, criterion, images, labels)
            adversarial_grad = -train_image_grad
        self.teacher.train(model.training)  # the same normalisation as the model's forward on these images
        with preserved_batchnorm(self.teacher):
            teacher_image_grad = _image_grad(self.teacher, criterion, images, labels)
        return teacher_image_grad + adversarial_grad


def non_saturating_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``mean(-log(1 - p_y))``: small when the model gets the image wrong, large when it is sure and right."""
    log_p = torch.log_softmax(logits.float(), dim=1)
    log_p_y = log_p.gather(1, labels[:, None]).squeeze(1)
    return -torch.log1p(-log_p_y.exp().clamp(max=1.0 - 1e-6)).mean()


#: Fraction of a run's training steps an objective learns from before its policy is first applied (the module's
#: ``augment_from`` when not given): ``affinity`` reads what a model trained without a policy cannot take.
OBJECTIVE_BURN_IN: dict[str, float] = {"affinity": 0.25}

#: Name -> the objective's class and the constructor arguments its name fixes. The class's other arguments with a
#: default are the objective's settings: ``epsilon`` and ``decay`` come from :func:`build_objective`'s ``epsilon`` and
#: ``teacher_decay``, the rest (:func:`objective_arguments`) from its ``objective_args``.
OBJECTIVES: dict[str, tuple[type[MetaObjective], dict[str, object]]] = {
    "affinity": (AffinityObjective, {}),
    "lookahead": (LookaheadObjective, {}),
    "gradient_matching": (GradientMatchingObjective, {}),
    "implicit": (ImplicitObjective, {}),
    "teacher": (TeacherObjective, {"adversarial": "cross_entropy"}),
    "teacher_ns": (TeacherObjective, {"adversarial": "non_saturating"}),
}

#: Constructor argument -> the argument of :func:`build_objective` (and of the module) that sets it.
_SHARED_ARGUMENTS = {"epsilon": "epsilon", "decay": "teacher_decay"}

#: The types a setting given in ``objective_args`` may have (primitives, so that checkpoints, which hold the module's
#: arguments, still load with ``torch.load(weights_only=True)``), as its error messages name them.
_SETTING_TYPES = {bool: "a bool", int: "an int", float: "a float (or an int)", str: "a str"}


#: The controller settings each objective starts from where they are not given, chosen on the validation split of
#: reduced Fashion-MNIST: gradient matching steps less often (a step costs three passes) from further off identity
#: (its policy stays near where it starts), the others start near identity; the implicit objective takes gradient
#: matching's, so the two differ in their gradient only (measurements: research/README.md, "Controller settings").
OBJECTIVE_DEFAULTS: dict[str, dict[str, float]] = {
    "gradient_matching": {"meta_every": 16, "init_identity": 0.5, "init_magnitude": 0.3},
    "affinity": {"meta_every": 4, "init_identity": 0.5, "init_magnitude": 0.3},
    "lookahead": {"meta_every": 8, "init_identity": 0.95, "init_magnitude": 0.1},
    "implicit": {"meta_every": 16, "init_identity": 0.5, "init_magnitude": 0.3},
    "teacher": {"meta_every": 8, "init_identity": 0.95, "init_magnitude": 0.1},
    "teacher_ns": {"meta_every": 8, "init_identity": 0.95, "init_magnitude": 0.1},
}


def objective_settings(name: str, given: Mapping[str, object]) -> dict[str, object]:
    """The objective ``name``'s :data:`OBJECTIVE_DEFAULTS`, each replaced by ``given``'s value where not None."""
    _check_name(name)
    return {key: default if given.get(key) is None else given[key] for key, default in OBJECTIVE_DEFAULTS[name].items()}


def objective_arguments(name: str) -> dict[str, type]:
    """The settings ``objective_args`` may give the objective ``name``, each with its type (``bool``, ``int``,
    ``float`` or ``str``): its class's arguments with a default, less those its name fixes and ``epsilon`` and
    ``decay`` (set by arguments of their own)."""
    _check_name(name)
    cls, fixed = OBJECTIVES[name]
    hints = typing.get_type_hints(cls.__init__)
    return {
        key: hints[key]
        for key, parameter in inspect.signature(cls.__init__).parameters.items()
        if parameter.default is not inspect.Parameter.empty
        and key not in fixed
        and key not in _SHARED_ARGUMENTS
        and hints.get(key) in _SETTING_TYPES
    }


def build_objective(
    name: str,
    model: nn.Module,
    epsilon: float = 0.01,
    teacher_decay: float = 0.99,
    objective_args: Mapping[str, object] | None = None,
) -> MetaObjective:
    """The objective called ``name`` (a key of :data:`OBJECTIVES`) for the base ``model``.

    ``epsilon`` reaches the objectives with a finite difference and ``teacher_decay`` the teacher's ``decay``; the
    others ignore them. ``objective_args`` gives the objective's other settings (:func:`objective_arguments`, e.g.
    ``{"terms": 3, "alpha": 0.02}`` for ``implicit``); a key that is not one of them, or a value not of its type,
    raises a ValueError that names both (an ``int`` is taken for a ``float``).
    """
    _check_name(name)
    cls, fixed = OBJECTIVES[name]
    settings = _checked_objective_args(name, objective_args)
    parameters = inspect.signature(cls.__init__).parameters
    shared = {"epsilon": epsilon, "teacher_decay": teacher_decay}
    arguments = {key: shared[given] for key, given in _SHARED_ARGUMENTS.items() if key in parameters}
    if "model" in parameters:
        arguments["model"] = model
    return cls(**arguments, **fixed, **settings)


def _checked_objective_args(name: str, objective_args: Mapping[str, object] | None) -> dict[str, object]:
    """``objective_args`` as the keyword arguments of the objective ``name``'s class, after checking keys and types."""
    if objective_args is None:
        return {}
    if not isinstance(objective_args, Mapping):
        raise ValueError(
            f"`objective_args` should be a dict of the objective's settings or None, but got {objective_args!r} "
            "instead."
        )
    types = objective_arguments(name)
    taken = inspect.signature(OBJECTIVES[name][0].__init__).parameters
    settings = {}
    for key, value in objective_args.items():
        if key not in types:
            expected = f"expected one of {sorted(types)}" if types else "it has none"
            if key in _SHARED_ARGUMENTS and key in taken:
                expected += f"; `{key}` is set by the argument `{_SHARED_ARGUMENTS[key]}`"
            raise ValueError(
                f"`objective_args` key {key!r} (value {value!r}) is not a setting of objective {name!r}: {expected}."
            )
        kind = types[key]
        accepted = (int, float) if kind is float else (kind,)
        if type(value) not in accepted:  # `type`, not `isinstance`: a bool is no int
            raise ValueError(
                f"`objective_args` key {key!r} of objective {name!r} should be {_SETTING_TYPES[kind]}, but got "
                f"{value!r} ({type(value).__name__}) instead."
            )
        settings[key] = float(value) if kind is float else value
    return settings


def _check_name(name: str) -> None:
    if name not in OBJECTIVES:
        raise ValueError(f"`objective` should be one of {sorted(OBJECTIVES)}, but got {name!r} instead.")
