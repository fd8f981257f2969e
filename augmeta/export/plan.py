"""A policy as the explicit probabilities an exporter writes: every weight normalised, every op choice as the
physical values (or uniform intervals of them) it draws, each with its probability, signs included.

Both exporters walk this plan, so they agree on what a policy means; ``describe`` reads it too.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

from augmeta.ops import OPS
from augmeta.policy import Policy, load_policy
from augmeta.policy.schema import OpChoice, PolicyModel, UniformMagnitude

__all__ = [
    "EXPORT_LEVELS",
    "ChoicePlan",
    "PolicyPlan",
    "StepPlan",
    "SubPolicyPlan",
    "Variant",
    "as_policy",
    "check_image_size",
    "interval_magnitude",
    "plan_policy",
]


#: The fixed values an export draws a uniform magnitude from where the target cannot draw it from an interval:
#: evenly spaced over the interval, as TrivialAugmentWide's 31 magnitude bins are.
EXPORT_LEVELS = 31


def as_policy(policy: Policy | str | os.PathLike[str]) -> Policy:
    """A :class:`Policy` as it is, or loaded from a policy file."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, (str, os.PathLike)):
        return load_policy(policy)
    raise TypeError(f"`policy` should be an augmeta Policy or a policy file path, but got {type(policy).__name__}.")


def check_image_size(image_size: tuple[int, int] | None) -> tuple[int, int] | None:
    """``(height, width)`` as a tuple of two positive ints, or None."""
    if image_size is None:
        return None
    size = tuple(image_size)
    if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
        raise ValueError(f"`image_size` should be (height, width), two positive ints, but got {image_size!r}.")
    return size


@dataclass(frozen=True)
class Variant:
    """Physical values drawn uniformly from ``[low, high]`` (one value when ``low == high``) with ``probability``.

    For ops without a magnitude ``low == high == 0`` and the value means nothing.
    """

    low: float
    high: float
    probability: float

    @property
    def fixed(self) -> bool:
        return self.low == self.high


@dataclass(frozen=True)
class ChoicePlan:
    """One op choice of a step: its op, its probability among the step's choices, and what values it draws.

    Attributes:
        path: field path in the policy file, e.g. ``subpolicies[3].steps[0].ops[2]``.
        magnitudes: the normalised magnitudes ``(low, high)`` it draws, for people.
        quantized: the number of fixed values its uniform magnitude was replaced by (:func:`plan_policy`'s
            ``quantize``), or None where it draws what the file says.
    """

    op: str
    path: str
    probability: float
    variants: tuple[Variant, ...]
    magnitudes: tuple[float, float]
    quantized: int | None = None


@dataclass(frozen=True)
class StepPlan:
    p: float
    path: str
    choices: tuple[ChoicePlan, ...]


@dataclass(frozen=True)
class SubPolicyPlan:
    probability: float
    path: str
    steps: tuple[StepPlan, ...]


@dataclass(frozen=True)
class PolicyPlan:
    fill: tuple[float, ...]
    interpolation: str
    subpolicies: tuple[SubPolicyPlan, ...]


def _physical(choice: OpChoice, magnitude: float) -> float:
    lo, hi = choice.range
    return lo + magnitude * (hi - lo)


def _magnitude_points(
    choice: OpChoice, quantize: int | None = None
) -> tuple[list[tuple[float, float, float]], tuple[float, float]]:
    """``[(magnitude low, magnitude high, probability)]``: one point, ``levels`` points, or one interval (or,
    with ``quantize``, that many points in its place)."""
    magnitude = choice.magnitude
    if not isinstance(magnitude, UniformMagnitude):
        return [(magnitude, magnitude, 1.0)], (magnitude, magnitude)
    low, high, levels = magnitude.low, magnitude.high, magnitude.levels or quantize
    if levels is None or low == high:
        return [(low, high, 1.0)], (low, high)
    points = [low + (high - low) * k / (levels - 1) for k in range(levels)]
    return [(m, m, 1.0 / levels) for m in points], (low, high)


def interval_magnitude(choice: OpChoice) -> bool:
    """Whether the choice draws its magnitude uniformly from an interval (no ``levels``)."""
    magnitude = choice.magnitude
    return (
        OPS[choice.op].has_magnitude
        and isinstance(magnitude, UniformMagnitude)
        and magnitude.levels is None
        and magnitude.low != magnitude.high
    )


def plan_variants(choice: OpChoice, quantize: int | None = None) -> tuple[tuple[Variant, ...], tuple[float, float]]:
    """The physical values one op choice draws, equal ones merged, in a stable order (positive sign first);
    ``quantize``: an interval becomes that many evenly spaced fixed values."""
    if not OPS[choice.op].has_magnitude:
        return (Variant(0.0, 0.0, 1.0),), (0.0, 0.0)
    points, magnitudes = _magnitude_points(choice, quantize)
    merged: dict[tuple[float, float], float] = {}
    for signs in ((1.0, 0.5), (-1.0, 0.5)) if choice.signed else ((1.0, 1.0),):
        sign, share = signs
        for m_low, m_high, probability in points:
            a, b = sorted((sign * _physical(choice, m_low), sign * _physical(choice, m_high)))
            key = (a + 0.0, b + 0.0)  # -0.0 and 0.0 are one value
            merged[key] = merged.get(key, 0.0) + share * probability
    return tuple(Variant(a, b, p) for (a, b), p in merged.items()), magnitudes


def _normalised(weights: list[float]) -> list[float]:
    total = math.fsum(weights)
    return [min(1.0, w / total) for w in weights]


def plan_policy(
    policy: PolicyModel, quantize: Callable[[OpChoice], bool] | None = None, levels: int = EXPORT_LEVELS
) -> PolicyPlan:
    """Normalise every weight of ``policy`` and list the values each op choice draws; a uniform magnitude of a
    choice that ``quantize`` picks draws from ``levels`` evenly spaced fixed values instead (the choice says so:
    ``quantized``)."""
    subpolicies = []
    sub_weights = _normalised([sub.weight for sub in policy.subpolicies])
    for i, (sub, sub_probability) in enumerate(zip(policy.subpolicies, sub_weights, strict=True)):
        steps = []
        for j, step in enumerate(sub.steps):
            path = f"subpolicies[{i}].steps[{j}]"
            choices = []
            for k, (choice, weight) in enumerate(zip(step.ops, _normalised([c.weight for c in step.ops]), strict=True)):
                picked = quantize is not None and interval_magnitude(choice) and quantize(choice)
                quantized = levels if picked else None
                variants, magnitudes = plan_variants(choice, quantized)
                choices.append(ChoicePlan(choice.op, f"{path}.ops[{k}]", weight, variants, magnitudes, quantized))
            steps.append(StepPlan(step.p, path, tuple(choices)))
        subpolicies.append(SubPolicyPlan(sub_probability, f"subpolicies[{i}]", tuple(steps)))
    return PolicyPlan(tuple(policy.fill), policy.interpolation, tuple(subpolicies))
