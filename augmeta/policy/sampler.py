"""Per-sample draws from a policy, kept apart from applying them so every draw can be replayed.

A policy is compiled once per device into padded tables (sub-policy x step position x op choice), so one batch
is sampled with a handful of vectorised calls and no host synchronisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from augmeta.ops import OPS
from augmeta.policy.schema import PolicyModel, UniformMagnitude

__all__ = ["OP_NAMES", "CompiledPolicy", "Draws", "StepDraw", "compile_policy", "sample"]

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


_COLUMNS = ("weight", "op", "magnitude_low", "magnitude_high", "levels", "range_lo", "range_hi", "signed")
_W, _OP, _MLO, _MHI, _LEVELS, _RLO, _RHI, _SIGNED = range(len(_COLUMNS))


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy as padded float64 tables on one device (K sub-policies, L step positions, C op choices).

    Attributes:
        subpolicy_cdf: ``[K]`` cumulative sub-policy weights, normalised.
        p: ``[K, L]`` firing probability per step (0 for padding).
        choices: ``[K, L, C, 8]`` per op choice: cumulative normalised weight, op index, magnitude low/high,
            levels (0 = continuous), range lo/hi, signed.
    """

    subpolicy_cdf: torch.Tensor
    p: torch.Tensor
    choices: torch.Tensor


def compile_policy(policy: PolicyModel, device: torch.device | str = "cpu") -> CompiledPolicy:
    """Build the sampling tables of ``policy`` on ``device``."""
    k = len(policy.subpolicies)
    length = max(len(sub.steps) for sub in policy.subpolicies)
    width = max(len(step.ops) for sub in policy.subpolicies for step in sub.steps)
    p = torch.zeros(k, length, dtype=torch.float64)
    choices = torch.zeros(k, length, width, len(_COLUMNS), dtype=torch.float64)
    choices[..., _OP] = _IDENTITY
    choices[..., 0, _W] = 1.0  # padding steps and choices: a certain identity that never fires
    for i, sub in enumerate(policy.subpolicies):
        for j, step in enumerate(sub.steps):
            p[i, j] = step.p
            for c, choice in enumerate(step.ops):
                choices[i, j, c] = torch.tensor(_choice_row(choice), dtype=torch.float64)
    choices[..., _W] = _cdf(choices[..., _W])
    weights = torch.tensor([sub.weight for sub in policy.subpolicies], dtype=torch.float64)
    return CompiledPolicy(_cdf(weights).to(device), p.to(device), choices.to(device))


def _cdf(weights: torch.Tensor) -> torch.Tensor:
    cdf = torch.cumsum(weights / weights.sum(dim=-1, keepdim=True), dim=-1)
    cdf[..., -1] = 1.0  # guard against rounding: u < 1 always lands in a bin
    return cdf


def _choice_row(choice) -> list[float]:
    magnitude = choice.magnitude
    if isinstance(magnitude, UniformMagnitude):
        low, high, levels = magnitude.low, magnitude.high, magnitude.levels or 0
    else:
        low, high, levels = magnitude, magnitude, 0
    lo, hi = choice.range if choice.range is not None else (0.0, 0.0)
    return [choice.weight, OP_NAMES.index(choice.op), low, high, levels, lo, hi, float(choice.signed)]


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device, dtype=torch.float64).to(device)


def _pick_bin(cdf: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw: the first bin of each row of ``cdf`` ``[B, C]`` whose cumulative weight exceeds ``u``."""
    return (cdf <= u.unsqueeze(-1)).sum(dim=-1).clamp(max=cdf.shape[-1] - 1)


def _sample_step(compiled: CompiledPolicy, rows: torch.Tensor, j: int, u: torch.Tensor, dtype: torch.dtype) -> StepDraw:
    """Draw step ``j`` from six uniforms per image ``u[B, 6]``: op choice, gate, magnitude, sign, position (2)."""
    table = compiled.choices[rows, j]  # [B, C, 8]
    choice = _pick_bin(table[..., _W], u[:, 0])
    picked = table.gather(1, choice.view(-1, 1, 1).expand(-1, 1, table.shape[-1])).squeeze(1)  # [B, 8]
    fires = u[:, 1] < compiled.p[rows, j]
    low, high, levels = picked[:, _MLO], picked[:, _MHI], picked[:, _LEVELS]
    bins = torch.minimum(torch.floor(u[:, 2] * levels), levels - 1) / (levels - 1).clamp(min=1)
    magnitude = low + (high - low) * torch.where(levels > 1, bins, u[:, 2])
    sign = torch.where((picked[:, _SIGNED] > 0) & (u[:, 3] < 0.5), -1.0, 1.0)
    value = (picked[:, _RLO] + magnitude * (picked[:, _RHI] - picked[:, _RLO])) * sign
    op = torch.where(fires, picked[:, _OP].long(), _IDENTITY)
    return StepDraw(op, magnitude.to(dtype), value.to(dtype), u[:, 4:6].to(dtype))


def sample(
    compiled: CompiledPolicy,
    batch_size: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Draws:
    """Draw sub-policy, gates, ops, magnitudes, signs and cutout positions for ``batch_size`` images."""
    length = compiled.p.shape[1]
    u = _uniform((batch_size, 1 + 6 * length), generator, compiled.p.device)
    rows = _pick_bin(compiled.subpolicy_cdf.expand(batch_size, -1), u[:, 0])
    steps = tuple(_sample_step(compiled, rows, j, u[:, 1 + 6 * j : 7 + 6 * j], dtype) for j in range(length))
    return Draws(rows, steps)
