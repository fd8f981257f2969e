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


@dataclass(frozen=True)
class Draws:
    """All random choices for one batch: the sub-policy of each image and one :class:`StepDraw` per step."""

    subpolicy: torch.Tensor
    steps: tuple[StepDraw, ...]

    def select(self, index: torch.Tensor | slice) -> Draws:
        """The draws of the images ``index`` (to replay them on part of a batch)."""
        return Draws(self.subpolicy[index], tuple(step.select(index) for step in self.steps))


@dataclass(frozen=True)
class CompiledPolicy:
    """Padded tables of a policy on one device; shapes are ``[K]`` or ``[K, L, C]`` (K sub-policies, L steps, C ops)."""

    subpolicy_weight: torch.Tensor
    present: torch.Tensor
    p: torch.Tensor
    choice_weight: torch.Tensor
    op: torch.Tensor
    magnitude_low: torch.Tensor
    magnitude_high: torch.Tensor
    levels: torch.Tensor
    range_lo: torch.Tensor
    range_hi: torch.Tensor
    signed: torch.Tensor


def compile_policy(policy: PolicyModel, device: torch.device | str = "cpu") -> CompiledPolicy:
    """Build the sampling tables of ``policy`` on ``device``."""
    k = len(policy.subpolicies)
    length = max(len(sub.steps) for sub in policy.subpolicies)
    width = max(len(step.ops) for sub in policy.subpolicies for step in sub.steps)
    present = torch.zeros(k, length, dtype=torch.bool)
    p = torch.zeros(k, length, dtype=torch.float64)
    tables = {name: torch.zeros(k, length, width, dtype=torch.float64) for name in _FLOAT_TABLES}
    op = torch.full((k, length, width), _IDENTITY, dtype=torch.long)
    for i, sub in enumerate(policy.subpolicies):
        for j, step in enumerate(sub.steps):
            present[i, j] = True
            p[i, j] = step.p
            for c, choice in enumerate(step.ops):
                op[i, j, c] = OP_NAMES.index(choice.op)
                for name, value in _choice_row(choice).items():
                    tables[name][i, j, c] = value
        tables["choice_weight"][i, len(sub.steps) :, 0] = 1.0  # padding steps: a certain identity
    weights = torch.tensor([sub.weight for sub in policy.subpolicies], dtype=torch.float64)
    to = {"device": device}
    return CompiledPolicy(
        subpolicy_weight=weights.to(**to),
        present=present.to(**to),
        p=p.to(**to),
        op=op.to(**to),
        signed=tables.pop("signed").bool().to(**to),
        levels=tables.pop("levels").long().to(**to),
        **{name: table.to(**to) for name, table in tables.items()},
    )


_FLOAT_TABLES = ("choice_weight", "magnitude_low", "magnitude_high", "levels", "range_lo", "range_hi", "signed")


def _choice_row(choice) -> dict[str, float]:
    magnitude = choice.magnitude
    if isinstance(magnitude, UniformMagnitude):
        low, high, levels = magnitude.low, magnitude.high, magnitude.levels or 0
    else:
        low, high, levels = magnitude, magnitude, 0
    lo, hi = choice.range if choice.range is not None else (0.0, 0.0)
    return {
        "choice_weight": choice.weight,
        "magnitude_low": low,
        "magnitude_high": high,
        "levels": levels,
        "range_lo": lo,
        "range_hi": hi,
        "signed": float(choice.signed),
    }


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=gen_device, dtype=torch.float64).to(device)


def _categorical(weights: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One index per row of ``weights`` ``[B, C]`` (rows need not be normalised)."""
    gen_device = generator.device if generator is not None else weights.device
    drawn = torch.multinomial(weights.to(gen_device), 1, replacement=True, generator=generator)
    return drawn.squeeze(1).to(weights.device)


def _pick(table: torch.Tensor, rows: torch.Tensor, j: int, choice: torch.Tensor) -> torch.Tensor:
    return table[rows, j].gather(1, choice).squeeze(1)


def _sample_step(
    compiled: CompiledPolicy, rows: torch.Tensor, j: int, generator: torch.Generator | None, dtype: torch.dtype
) -> StepDraw:
    batch_size, device = rows.shape[0], rows.device
    choice = _categorical(compiled.choice_weight[rows, j], generator).unsqueeze(1)
    fires = compiled.present[rows, j] & (_uniform((batch_size,), generator, device) < compiled.p[rows, j])
    low, high = _pick(compiled.magnitude_low, rows, j, choice), _pick(compiled.magnitude_high, rows, j, choice)
    levels = _pick(compiled.levels, rows, j, choice)
    u = _uniform((batch_size,), generator, device)
    discrete = torch.floor(u * levels).clamp(max=(levels - 1).clamp(min=0)) / (levels - 1).clamp(min=1)
    magnitude = low + (high - low) * torch.where(levels > 1, discrete, u)
    flip = _pick(compiled.signed, rows, j, choice) & (_uniform((batch_size,), generator, device) < 0.5)
    lo, hi = _pick(compiled.range_lo, rows, j, choice), _pick(compiled.range_hi, rows, j, choice)
    value = (lo + magnitude * (hi - lo)) * torch.where(flip, -1.0, 1.0)
    op = torch.where(fires, _pick(compiled.op, rows, j, choice), _IDENTITY)
    position = _uniform((batch_size, 2), generator, device)
    return StepDraw(op, magnitude.to(dtype), value.to(dtype), position.to(dtype))


def sample(
    compiled: CompiledPolicy,
    batch_size: int,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> Draws:
    """Draw sub-policy, gates, ops, magnitudes, signs and cutout positions for ``batch_size`` images."""
    rows = _categorical(compiled.subpolicy_weight.expand(batch_size, -1), generator)
    steps = tuple(_sample_step(compiled, rows, j, generator, dtype) for j in range(compiled.p.shape[1]))
    return Draws(rows, steps)
