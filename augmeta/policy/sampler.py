"""Per-sample draws from a policy, kept apart from applying them so every draw can be replayed.

A policy is compiled once per device into padded tables (sub-policy x step position x op choice), so one batch
is sampled with a handful of vectorised calls and no host synchronisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from augmeta.ops import OPS
from augmeta.ops.context import as_dtype, on_device
from augmeta.policy.schema import PolicyModel, UniformMagnitude

__all__ = ["OP_NAMES", "CompiledPolicy", "Draws", "StepDraw", "StepTables", "compile_policy", "sample"]

OP_NAMES: tuple[str, ...] = tuple(OPS)
_IDENTITY = OP_NAMES.index("identity")


@dataclass(frozen=True)
class StepDraw:
    """What one step does to each image of a batch.

    Attributes:
        op: ``[B]`` long, index into :data:`OP_NAMES` (identity where the step did not fire).
        magnitude: ``[B]`` normalised magnitude in [0, 1].
        value: ``[B]`` physical value handed to the kernel (signed).
        position: ``[B, 2]`` uniform numbers that place a cutout patch.
    """

    op: torch.Tensor
    magnitude: torch.Tensor
    value: torch.Tensor
    position: torch.Tensor

    def select(self, index: torch.Tensor | slice) -> StepDraw:
        return StepDraw(self.op[index], self.magnitude[index], self.value[index], self.position[index])

    def to(self, device: torch.device | str) -> StepDraw:
        return StepDraw(*(t.to(device) for t in (self.op, self.magnitude, self.value, self.position)))


@dataclass(frozen=True)
class Draws:
    """All random choices for one batch: the sub-policy of each image and one :class:`StepDraw` per step."""

    subpolicy: torch.Tensor
    steps: tuple[StepDraw, ...]

    def select(self, index: torch.Tensor | slice) -> Draws:
        """The draws of the images ``index`` (to replay them on part of a batch)."""
        return Draws(self.subpolicy[index], tuple(step.select(index) for step in self.steps))

    def to(self, device: torch.device | str) -> Draws:
        """The same draws on ``device`` (to replay draws made on one device on another)."""
        return Draws(self.subpolicy.to(device), tuple(step.to(device) for step in self.steps))


_COLUMNS = ("op", "low", "span", "levels", "discrete", "bin_scale", "range_lo", "range_span", "sign_below")
_OP, _LOW, _SPAN, _LEVELS, _DISCRETE, _BIN_SCALE, _RLO, _RSPAN, _SIGN_BELOW = range(len(_COLUMNS))


@dataclass(frozen=True)
class StepTables:
    """One step position's tables, laid out so that a batch is drawn with a few vectorised calls.

    Attributes:
        cdf: ``[K, C]`` cumulative normalised weight of each op choice, per sub-policy.
        p: ``[K]`` firing probability (0 for padding).
        choices: ``[K * C, 9]`` per op choice (sub-policy major): op index; magnitude low and span (high - low);
            levels, whether they are more than 1, and the largest bin over ``max(levels - 1, 1)``; range lo and
            span (hi - lo); the uniform below which the value is negated (0.5 for signed ops, 0 for the others).
    """

    cdf: torch.Tensor
    p: torch.Tensor
    choices: torch.Tensor


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy as padded float64 tables on one device (K sub-policies, L step positions, C op choices).

    Attributes:
        subpolicy_cdf: ``[K]`` cumulative sub-policy weights, normalised.
        steps: one :class:`StepTables` per step position.
    """

    subpolicy_cdf: torch.Tensor
    steps: tuple[StepTables, ...]


def compile_policy(policy: PolicyModel, device: torch.device | str = "cpu") -> CompiledPolicy:
    """Build the sampling tables of ``policy`` on ``device``."""
    k = len(policy.subpolicies)
    length = max(len(sub.steps) for sub in policy.subpolicies)
    width = max(len(step.ops) for sub in policy.subpolicies for step in sub.steps)
    p = torch.zeros(k, length, dtype=torch.float64)
    weights = torch.zeros(k, length, width, dtype=torch.float64)
    weights[..., 0] = 1.0  # padding steps and choices: a certain identity that never fires
    choices = torch.zeros(k, length, width, len(_COLUMNS), dtype=torch.float64)
    choices[..., _OP] = _IDENTITY
    choices[..., _LEVELS], choices[..., _BIN_SCALE] = 0.0, 1.0
    for i, sub in enumerate(policy.subpolicies):
        for j, step in enumerate(sub.steps):
            p[i, j] = step.p
            for c, choice in enumerate(step.ops):
                weights[i, j, c] = choice.weight
                choices[i, j, c] = _choice_row(choice)
    cdf = _cdf(weights)
    sub_cdf = _cdf(torch.tensor([sub.weight for sub in policy.subpolicies], dtype=torch.float64))
    steps = tuple(
        StepTables(
            cdf[:, j].contiguous().to(device),
            p[:, j].contiguous().to(device),
            choices[:, j].reshape(k * width, len(_COLUMNS)).to(device),
        )
        for j in range(length)
    )
    return CompiledPolicy(sub_cdf.to(device), steps)


def _cdf(weights: torch.Tensor) -> torch.Tensor:
    cdf = torch.cumsum(weights / weights.sum(dim=-1, keepdim=True), dim=-1)
    cdf[..., -1] = 1.0  # guard against rounding: u < 1 always lands in a bin
    return cdf


def _choice_row(choice) -> torch.Tensor:
    magnitude = choice.magnitude
    if isinstance(magnitude, UniformMagnitude):
        low, high, levels = magnitude.low, magnitude.high, magnitude.levels or 0
    else:
        low, high, levels = magnitude, magnitude, 0
    lo, hi = choice.range if choice.range is not None else (0.0, 0.0)
    row = torch.tensor([OP_NAMES.index(choice.op), low, high, levels, 0.0, 0.0, lo, hi, 0.0], dtype=torch.float64)
    row[_SPAN] = row[2] - row[1]  # the same float64 differences the draw once computed per image
    row[_DISCRETE] = float(levels > 1)
    row[_BIN_SCALE] = torch.clamp(row[_LEVELS] - 1, min=1)
    row[_RSPAN] = row[7] - row[6]
    row[_SIGN_BELOW] = 0.5 if choice.signed else 0.0
    return row


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else device
    u = torch.rand(shape, generator=generator, device=gen_device, dtype=torch.float64)
    return on_device(u, device)


def _pick_bin(cdf: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw: per image, the first bin whose cumulative weight exceeds ``u`` (``cdf`` ``[C]`` shared by
    all images, or ``[B, C]`` one row each); the last bin's weight is 1, so ``u`` in [0, 1) lands in a bin."""
    u = u.contiguous()  # a column of the batch's uniforms; searchsorted wants its values contiguous
    if cdf.dim() == 1:
        return torch.searchsorted(cdf, u, right=True)
    return torch.searchsorted(cdf, u.unsqueeze(1), right=True).squeeze(1)


def _sample_step(tables: StepTables, rows: torch.Tensor | None, u: torch.Tensor, dtype: torch.dtype) -> StepDraw:
    """Draw one step from six uniforms per image ``u[B, 6]``: op choice, gate, magnitude, sign, position (2).

    ``rows`` is each image's sub-policy, ``None`` when the policy has one (its tables are then looked up without it).
    """
    u_choice, u_gate, u_magnitude, u_sign, _, _ = u.unbind(1)
    if rows is None:
        choice, p = _pick_bin(tables.cdf[0], u_choice), tables.p[0]
    else:
        width = tables.cdf.shape[1]
        choice = _pick_bin(tables.cdf.index_select(0, rows), u_choice) + rows * width
        p = tables.p.index_select(0, rows)
    op, low, span, levels, discrete, bin_scale, range_lo, range_span, sign_below = tables.choices.index_select(
        0, choice
    ).unbind(1)
    bins = torch.minimum(torch.floor(u_magnitude * levels), levels - 1) / bin_scale
    magnitude = low + span * torch.where(discrete > 0, bins, u_magnitude)
    sign = torch.where(u_sign < sign_below, -1.0, 1.0)
    value = (range_lo + magnitude * range_span) * sign
    op = torch.where(u_gate < p, op.long(), _IDENTITY)
    return StepDraw(op, as_dtype(magnitude, dtype), as_dtype(value, dtype), as_dtype(u[:, 4:6], dtype))


def sample(
    compiled: CompiledPolicy,
    batch_size: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Draws:
    """Draw sub-policy, gates, ops, magnitudes, signs and cutout positions for ``batch_size`` images."""
    length, device = len(compiled.steps), compiled.subpolicy_cdf.device
    u = _uniform((batch_size, 1 + 6 * length), generator, device)
    if compiled.subpolicy_cdf.shape[0] == 1:  # one sub-policy: every image's, and its tables need no lookup
        rows, lookup = torch.zeros(batch_size, dtype=torch.long, device=device), None
    else:
        rows = lookup = _pick_bin(compiled.subpolicy_cdf, u[:, 0])
    steps = tuple(
        _sample_step(tables, lookup, u[:, 1 + 6 * j : 7 + 6 * j], dtype) for j, tables in enumerate(compiled.steps)
    )
    return Draws(rows, steps)
