"""The meta-network: a learnable, per-image, differentiable distribution over augmentation policies.

K sub-policies of L steps; each step picks one op of a fixed op set (identity included, which is how a step learns to
fire less often) and a magnitude. In ``global`` mode one parameter table holds the logits and magnitudes; in
``class`` mode each class adds its own offsets to that table (a policy per class); in ``adaptive`` mode a small
network adds per-image offsets computed from model-free image features and the class label. The meta-tree
(:mod:`augmeta.meta.tree_fit`) distils either into a file. Sampling is per image: straight-through Gumbel-softmax
for the sub-policy and the op, and magnitudes that carry gradients into the ops (exact or straight-through, as each
op's spec says).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from augmeta.meta.features import FEATURE_NAMES, image_features
from augmeta.ops import OPS
from augmeta.ops.context import on_device
from augmeta.policy import OP_NAMES, ApplyPath, Policy, StepDraw, apply_step
from augmeta.policy.published import STANDARD_OPS
from augmeta.policy.schema import SCHEMA_VERSION

__all__ = ["DEFAULT_OPS", "DEFAULT_RANGES", "MODES", "MetaDraw", "MetaNetwork", "default_ops"]

#: The controller's modes: one policy, one per class, one per image.
MODES = ("global", "class", "adaptive")
#: The most classes a controller (and a meta-tree) takes: its tables grow with them.
MAX_CLASSES = 10_000
#: The most entries a controller's op table may hold (a saved network's sizes are checked before anything is built).
MAX_TABLE = 10_000_000

#: The ops a controller chooses from by default: torchvision's 14, cutout and both flips (whether a mirrored image is
#: still of its class depends on the data, so the controller decides; the base recipe of a learned run has no flip).
DEFAULT_OPS: tuple[str, ...] = (*STANDARD_OPS, "cutout", "flip_x", "flip_y")

#: Ops that do nothing to single-channel images (saturation), so a controller for grey images does not offer them.
COLOUR_ONLY_OPS: frozenset[str] = frozenset({"color"})


def default_ops(channels: int) -> tuple[str, ...]:
    """:data:`DEFAULT_OPS` without the ops that are the identity on images of ``channels`` channels."""
    return DEFAULT_OPS if channels > 1 else tuple(op for op in DEFAULT_OPS if op not in COLOUR_ONLY_OPS)


#: Ranges (value at magnitude 1) a controller learns within: between AutoAugment's and TrivialAugmentWide's.
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "shear_x": (0.0, 0.5), "shear_y": (0.0, 0.5),
    "translate_x": (0.0, 0.3), "translate_y": (0.0, 0.3),
    "rotate": (0.0, 45.0),
    "brightness": (0.0, 0.9), "color": (0.0, 0.9), "contrast": (0.0, 0.9), "sharpness": (0.0, 0.9),
    "posterize": (8.0, 2.0), "solarize": (1.0, 0.0), "cutout": (0.0, 0.5),
}  # fmt: skip


@dataclass(frozen=True)
class MetaDraw:
    """One batch augmented by the meta-network.

    Attributes:
        images: ``[B, C, H, W]`` augmented images (carrying gradients to the controller when grad is enabled).
        subpolicy: ``[B]`` chosen sub-policy per image.
        ops: ``[B, L]`` chosen op per step, as indices into the network's ``ops``.
        entropy: mean entropy of the per-image op distributions (a scalar; for regularisation).
    """

    images: torch.Tensor
    subpolicy: torch.Tensor
    ops: torch.Tensor
    entropy: torch.Tensor


def _gumbel_straight_through(
    logits: torch.Tensor, temperature: float, generator: torch.Generator | None
) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Hard one-hot samples ``[B, N]`` with the gradient of the relaxed (Gumbel-softmax) sample, and the indices.

    Where no gradient can flow (grad disabled, or ``logits`` without one) the one-hot is ``None``: the indices are
    the same draw (the argmax of the perturbed logits), without the relaxation's ops.
    """
    u = torch.rand(logits.shape, generator=generator, device=_generator_device(generator, logits))
    perturbed = logits - torch.log(-torch.log(on_device(u, logits.device).clamp(1e-10, 1.0 - 1e-7)))
    if not (torch.is_grad_enabled() and logits.requires_grad):
        return None, perturbed.argmax(dim=-1)
    soft = torch.softmax(perturbed / temperature, dim=-1)
    index = soft.argmax(dim=-1)
    hard = torch.zeros_like(soft).scatter_(-1, index.unsqueeze(-1), 1.0)
    return hard + soft - soft.detach(), index


def _gate(hard: torch.Tensor | None, index: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor | None:
    """``[B]``: the straight-through one-hot's entry at the chosen ``index`` (1 in value, the gradient of the
    relaxed sample), times ``other``; ``None`` (exactly 1, no gradient) where neither carries a gradient."""
    gate = None if hard is None else hard.gather(1, index[:, None]).squeeze(1)
    if other is None or gate is None:
        return other if gate is None else gate
    return gate * other


def _generator_device(generator: torch.Generator | None, like: torch.Tensor) -> torch.device:
    return generator.device if generator is not None else like.device


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    log_p = torch.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


class MetaNetwork(nn.Module):
    """A learnable distribution over policies, sampled per image and differentiably.

    Args:
        ops: op names to choose from (must include ``identity``).
        ranges: physical ``(lo, hi)`` per op with a magnitude; defaults to :data:`DEFAULT_RANGES`, then the registry.
        num_subpolicies: K.
        num_steps: L, ops applied one after another.
        mode: ``global`` (one table), ``class`` (one table of offsets per class, zero at the start) or ``adaptive``
            (per-image offsets from image features and the label).
        num_classes: labels the class table or the adaptive network sees.
        hidden: width of the adaptive network.
        init_identity: initial probability of ``identity`` in every step.
        init_magnitude: initial magnitude (upper end of the uniform draw), in [0, 1].
        temperature: Gumbel-softmax temperature of the relaxed samples.
        magnitude_sampling: ``uniform`` (each image draws m ~ U(0, m_max), as TrivialAugment does) or ``fixed``.
        interpolation: of geometric ops while training and in exported policies.

    Attribute ``path`` (not saved: a setting of the machine, not of the policy) picks how draws are applied,
    ``auto``, ``grouped``, ``masked`` or ``compiled`` (:mod:`augmeta.policy.applier`); the images are the same
    whichever it is.
    """

    def __init__(
        self,
        ops: Sequence[str] = DEFAULT_OPS,
        ranges: Mapping[str, Sequence[float]] | None = None,
        num_subpolicies: int = 1,
        num_steps: int = 2,
        mode: Literal["global", "class", "adaptive"] = "global",
        num_classes: int = 10,
        hidden: int = 64,
        init_identity: float = 0.5,
        init_magnitude: float = 0.3,
        temperature: float = 1.0,
        magnitude_sampling: Literal["uniform", "fixed"] = "uniform",
        interpolation: Literal["nearest", "bilinear"] = "bilinear",
    ) -> None:
        super().__init__()
        self.ops = _checked_ops(ops)
        if mode not in MODES:
            raise ValueError(f"`mode` should be one of {list(MODES)}, but got {mode!r} instead.")
        if type(num_classes) is not int or not 1 <= num_classes <= MAX_CLASSES:
            raise ValueError(
                f"`num_classes` should be an integer in [1, {MAX_CLASSES}], but got {num_classes!r} instead."
            )
        for name, value, most in (
            ("num_subpolicies", num_subpolicies, 1024), ("num_steps", num_steps, 32), ("hidden", hidden, 4096)
        ):  # fmt: skip
            if type(value) is not int or not 1 <= value <= most:
                raise ValueError(f"`{name}` should be an integer in [1, {most}], but got {value!r} instead.")
        size = num_subpolicies * num_steps * len(ops) * (num_classes if mode == "class" else 1)
        size *= 2 * hidden if mode == "adaptive" else 1  # the adapter's last layer
        if size > MAX_TABLE:
            raise ValueError(
                f"The controller's tables should hold at most {MAX_TABLE} entries (sub-policies x steps x ops, x "
                f"classes in class mode), but these settings ask for {size}."
            )
        if magnitude_sampling not in ("uniform", "fixed"):
            raise ValueError(f"`magnitude_sampling` should be 'uniform' or 'fixed', but got {magnitude_sampling!r}.")
        for name, value in (("init_identity", init_identity), ("init_magnitude", init_magnitude)):
            if not 0.0 < value < 1.0:
                raise ValueError(f"`{name}` should be in (0, 1), but got {value!r} instead.")
        self.mode, self.num_classes, self.hidden, self.temperature = mode, num_classes, hidden, temperature
        self.magnitude_sampling, self.interpolation = magnitude_sampling, interpolation
        self.path: ApplyPath = "auto"
        self.ranges = _resolve_ranges(self.ops, ranges)
        n = len(self.ops)
        self.register_buffer("op_index", torch.tensor([OP_NAMES.index(op) for op in self.ops]), persistent=False)
        self.register_buffer("range_lo", torch.tensor([self.ranges[op][0] for op in self.ops]), persistent=False)
        self.register_buffer("range_hi", torch.tensor([self.ranges[op][1] for op in self.ops]), persistent=False)
        self.register_buffer("signed", torch.tensor([OPS[op].signed for op in self.ops]), persistent=False)
        # per op: range lo, span (hi - lo, in the buffers' dtype as a draw once computed it) and the uniform below
        # which a value is negated (0.5 signed, 0 unsigned), so a step looks its draw's numbers up in one call
        sign_below = torch.where(self.signed, 0.5, 0.0)
        draw_table = torch.stack([self.range_lo, self.range_hi - self.range_lo, sign_below], dim=1)
        self.register_buffer("draw_table", draw_table, persistent=False)
        identity_logit = math.log(init_identity * (n - 1) / (1.0 - init_identity))
        op_logits = torch.zeros(num_subpolicies, num_steps, n)
        op_logits[..., self.ops.index("identity")] = identity_logit
        self.subpolicy_logits = nn.Parameter(torch.zeros(num_subpolicies))
        self.op_logits = nn.Parameter(op_logits)
        self.magnitude_logits = nn.Parameter(
            torch.full((num_subpolicies, num_steps, n), math.log(init_magnitude / (1 - init_magnitude)))
        )
        offsets = self.op_logits.numel() * 2 + num_subpolicies
        self.adapter: nn.Module | None = None
        if mode == "adaptive":
            self.adapter = _Adapter(len(FEATURE_NAMES), num_classes, hidden, offsets)
        elif mode == "class":
            self.adapter = _ClassOffsets(num_classes, offsets)

    @property
    def config(self) -> dict:
        """The constructor arguments that shape the parameters (saved in the state dict as ``_extra_state``)."""
        return {
            "ops": list(self.ops),
            "ranges": {op: list(lo_hi) for op, lo_hi in self.ranges.items()},
            "num_subpolicies": self.num_subpolicies,
            "num_steps": self.num_steps,
            "mode": self.mode,
            "num_classes": self.num_classes,
            "hidden": self.hidden,
            "temperature": self.temperature,
            "magnitude_sampling": self.magnitude_sampling,
            "interpolation": self.interpolation,
        }

    def get_extra_state(self) -> dict:
        return {"config": self.config}

    def set_extra_state(self, state: dict) -> None:
        saved, mine = state.get("config", {}), self.config
        different = sorted(key for key in saved.keys() | mine.keys() if saved.get(key) != mine.get(key))
        if different:
            details = "; ".join(f"`{key}` saved {saved.get(key)!r}, here {mine.get(key)!r}" for key in different)
            raise ValueError(
                f"The state dict should come from a MetaNetwork built the same way, but it differs in: {details}. "
                "Build it with `MetaNetwork.from_state_dict(state)`."
            )

    @classmethod
    def from_state_dict(cls, state: Mapping[str, object]) -> MetaNetwork:
        """Rebuild a network from its state dict (e.g. ``torch.load("meta_network.pt", weights_only=True)``)."""
        extra = state.get("_extra_state")
        if not isinstance(extra, Mapping) or not isinstance(extra.get("config"), Mapping):
            raise ValueError(
                "The state dict should hold `_extra_state.config`, as `MetaNetwork.state_dict()` saves it, "
                f"but its keys are {sorted(state)}."
            )
        try:
            network = cls(**extra["config"])  # sizes checked before anything is built
        except TypeError as error:
            raise ValueError(f"The state dict's `_extra_state.config` is not a MetaNetwork's: {error}.") from None
        network.load_state_dict(state)
        return network

    @property
    def num_subpolicies(self) -> int:
        return self.op_logits.shape[0]

    @property
    def num_steps(self) -> int:
        return self.op_logits.shape[1]

    def distribution(
        self, features: torch.Tensor | None = None, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sub-policy logits ``[N, K]``, op logits ``[N, K, L, n]`` and magnitudes in (0, 1) ``[N, K, L, n]``.

        N is 1 in global mode and the batch size in class mode (which needs ``labels``) and adaptive mode (which
        needs ``features`` and ``labels``).
        """
        sub, ops, mags = self.subpolicy_logits[None], self.op_logits[None], self.magnitude_logits[None]
        if self.adapter is not None:
            if labels is None or (features is None and self.mode == "adaptive"):
                needs = "`labels`" if self.mode == "class" else "`features` and `labels`"
                raise ValueError(f"{self.mode} mode needs {needs} for every image, but got None.")
            delta = self.adapter(features, labels)
            k, size = self.num_subpolicies, self.op_logits.numel()
            sub = sub + delta[:, :k]
            ops = ops + delta[:, k : k + size].view(-1, *self.op_logits.shape)
            mags = mags + delta[:, k + size :].view(-1, *self.op_logits.shape)
        return sub, ops, torch.sigmoid(mags)

    def augment(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        fill: tuple[float, ...] = (0.0,),
    ) -> MetaDraw:
        """Augment float ``[B, C, H, W]`` images in [0, 1], one draw per image; differentiable w.r.t. the controller."""
        batch = images.shape[0]
        features = image_features(images) if self.mode == "adaptive" else None
        sub_logits, op_logits, magnitudes = self.distribution(features, labels)
        sub_hard, sub = _gumbel_straight_through(sub_logits.expand(batch, -1), self.temperature, generator)
        rows = torch.arange(batch, device=images.device)
        op_logits = op_logits.expand(batch, -1, -1, -1)[rows, sub]  # [B, L, n]
        magnitudes = magnitudes.expand(batch, -1, -1, -1)[rows, sub]
        gate_sub = _gate(sub_hard, sub)
        out, chosen = images, []
        for step in range(self.num_steps):
            owned = step > 0  # `out` is this call's own tensor, which a step without gradients may overwrite
            out, index = self._apply_step(
                out, op_logits[:, step], magnitudes[:, step], gate_sub, generator, fill, owned
            )
            chosen.append(index)
        return MetaDraw(out, sub, torch.stack(chosen, dim=1), _entropy(op_logits).mean())

    def _apply_step(self, images, logits, magnitudes, gate_sub, generator, fill, owned):
        hard, index = _gumbel_straight_through(logits, self.temperature, generator)
        gate = _gate(hard, index, gate_sub)
        u = torch.rand((images.shape[0], 4), generator=generator, device=_generator_device(generator, images))
        u = on_device(u, images.device, images.dtype)
        u_magnitude, u_sign, _, _ = u.unbind(1)
        m_max = magnitudes.gather(1, index[:, None]).squeeze(1)
        magnitude = m_max * u_magnitude if self.magnitude_sampling == "uniform" else m_max
        lo, span, sign_below = self.draw_table.index_select(0, index).unbind(1)
        value = (lo + magnitude * span) * torch.where(u_sign < sign_below, -1.0, 1.0)
        draw = StepDraw(self.op_index.index_select(0, index), magnitude, value, u[:, 2:4])
        if gate is None:  # no gradient to carry: the augmented images themselves
            inplace = owned and not images.requires_grad
            return apply_step(images, draw, fill, self.interpolation, inplace, ops=self.ops, path=self.path), index
        augmented = apply_step(images, draw, fill, self.interpolation, ops=self.ops, path=self.path)
        return images + gate.view(-1, 1, 1, 1) * (augmented - images), index

    @torch.no_grad()
    def marginals(
        self, features: torch.Tensor | None = None, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sub-policy weights ``[K]``, op probabilities ``[K, L, n]`` and magnitudes ``[K, L, n]``, averaged over
        the given images in adaptive mode (magnitudes weighted by how often each op is chosen)."""
        was_training = self.training
        self.eval()  # the adapter's feature normalisation uses its running statistics
        try:
            sub_logits, op_logits, magnitudes = self.distribution(features, labels)
        finally:
            self.train(was_training)
        sub_p = torch.softmax(sub_logits, dim=-1)
        op_p = torch.softmax(op_logits, dim=-1) * sub_p[..., None, None]
        weight = op_p.sum(dim=0)
        mags = (magnitudes * op_p).sum(dim=0) / weight.clamp_min(1e-12)
        sub_mean = sub_p.mean(dim=0)
        return sub_mean, weight / sub_p.sum(dim=0)[:, None, None].clamp_min(1e-12), mags

    def to_policy(
        self,
        name: str = "learned",
        features: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        min_weight: float = 0.01,
        fill: Sequence[float] = (0.0,),
        provenance: Mapping[str, object] | None = None,
    ) -> Policy:
        """The learned distribution as a :class:`Policy`, with its negligible parts pruned.

        Sub-policies with a weight below ``min_weight`` are dropped. In each step an op whose share of the step's
        augmentation (its non-identity probability mass) is below ``min_weight`` is dropped and its probability goes
        to ``identity``, so the exported policy augments as often as the network does, however rarely that is.

        In adaptive mode ``features``/``labels`` of (a sample of) the training set give the marginal policy.
        """
        sub_w, op_p, mags = (t.cpu() for t in self.marginals(features, labels))
        keep = [k for k in range(len(sub_w)) if sub_w[k] >= min_weight] or [int(sub_w.argmax())]
        subpolicies = [
            {
                "weight": float(sub_w[k]),
                "steps": [self._step_dict(op_p[k, j], mags[k, j], min_weight) for j in range(self.num_steps)],
            }
            for k in keep
        ]
        meta = {"source": "augmeta MetaNetwork", "method": f"augmeta-{self.mode}", "created_by": "augmeta.meta"}
        meta.update(provenance or {})
        return Policy.from_dict(
            {
                "schema_version": SCHEMA_VERSION,
                "name": name,
                "description": f"Learned by augmeta's meta-network ({self.mode}, {len(keep)} sub-policies "
                f"of {self.num_steps} steps).",
                "fill": list(fill),
                "interpolation": self.interpolation,
                "subpolicies": subpolicies,
                "provenance": meta,
            },
            source=f"exported from the meta-network {name!r}",
        )

    def _step_dict(self, probabilities: torch.Tensor, magnitudes: torch.Tensor, min_weight: float) -> dict:
        identity = self.ops.index("identity")
        augmenting = float(probabilities.sum() - probabilities[identity])
        dropped = [
            i for i in range(len(self.ops)) if i != identity and float(probabilities[i]) < min_weight * augmenting
        ]
        pruned = sum(float(probabilities[i]) for i in dropped)
        ops = []
        for i, op in enumerate(self.ops):
            if i in dropped:
                continue
            weight = float(probabilities[i]) + (pruned if i == identity else 0.0)
            has_magnitude = OPS[op].default_range is not None
            m = round(float(magnitudes[i]), 6) if has_magnitude else 0.0
            ops.append(
                {
                    "op": op,
                    "weight": weight,
                    "magnitude": {"low": 0.0, "high": m}
                    if self.magnitude_sampling == "uniform" and has_magnitude
                    else m,
                    "range": list(self.ranges[op]) if has_magnitude else None,
                    "signed": bool(OPS[op].signed) if has_magnitude else False,
                }
            )
        return {"p": 1.0, "ops": ops}


class _ClassOffsets(nn.Module):
    """The label -> offsets of the logits and magnitudes (a table, zero at initialisation; features unused)."""

    def __init__(self, num_classes: int, out: int) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.zeros(num_classes, out))

    def forward(self, features: torch.Tensor | None, labels: torch.Tensor) -> torch.Tensor:
        return self.table[labels.long()]


class _Adapter(nn.Module):
    """Image features + one-hot label -> offsets of the logits and magnitudes (zero at initialisation)."""

    def __init__(self, num_features: int, num_classes: int, hidden: int, out: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.norm = nn.BatchNorm1d(num_features, affine=False)
        self.body = nn.Sequential(nn.Linear(num_features + num_classes, hidden), nn.ReLU(), nn.Linear(hidden, out))
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(labels.long(), self.num_classes).to(features.dtype)
        return self.body(torch.cat([self.norm(features), onehot], dim=1))


def _checked_ops(ops: Sequence[str]) -> list[str]:
    ops = list(ops)
    unknown = [op for op in ops if op not in OPS]
    if unknown:
        raise ValueError(f"`ops` should be names from {sorted(OPS)}, but got unknown {unknown} instead.")
    if len(set(ops)) != len(ops) or "identity" not in ops or len(ops) < 2:
        raise ValueError(
            f"`ops` should be unique, include 'identity' and at least one other op, but got {ops} instead."
        )
    return ops


def _check_ranges(ops: list[str], ranges: Mapping[str, Sequence[float]]) -> None:
    """Each given range names an op of ``ops`` that has a magnitude, as two finite values within the op's limits."""
    if not isinstance(ranges, Mapping):
        raise ValueError(f"`ranges` should map op names to [lo, hi], but got {ranges!r} instead.")
    for op, lo_hi in ranges.items():
        if op in ops and OPS[op].default_range is None and list(lo_hi) == [0.0, 0.0]:
            continue  # how `config` stores an op without a magnitude
        if op not in ops or OPS[op].default_range is None:
            with_magnitude = [name for name in ops if OPS[name].default_range is not None]
            raise ValueError(
                f"`ranges` key {op!r} should be one of the controller's ops with a magnitude "
                f"{with_magnitude}, but it is not."
            )
        lo, hi = OPS[op].limits
        valid = (
            isinstance(lo_hi, Sequence)
            and len(lo_hi) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in lo_hi)
        )
        values = [*lo_hi, *(-v for v in lo_hi)] if valid and OPS[op].signed else lo_hi
        if not valid or not all(lo <= v <= hi for v in values):
            raise ValueError(
                f"`ranges[{op!r}]` should be [value at m = 0, value at m = 1] within [{lo}, {hi}] "
                f"({OPS[op].unit}{', for both signs' if OPS[op].signed else ''}), but got {lo_hi!r} instead."
            )


def _resolve_ranges(ops: list[str], ranges: Mapping[str, Sequence[float]] | None) -> dict[str, tuple[float, float]]:
    _check_ranges(ops, ranges or {})
    resolved = {}
    for op in ops:
        spec = OPS[op]
        if spec.default_range is None:
            resolved[op] = (0.0, 0.0)
            continue
        lo_hi = (ranges or {}).get(op, DEFAULT_RANGES.get(op, spec.default_range))
        resolved[op] = (float(lo_hi[0]), float(lo_hi[1]))
    return resolved
