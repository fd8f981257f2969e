"""What a policy does, for people: a table of its sub-policies, op frequencies and strength; and policy diffs."""

from __future__ import annotations

import math
from typing import Any

from augmeta.export.plan import ChoicePlan, PolicyPlan, StepPlan, plan_policy
from augmeta.ops import OPS
from augmeta.policy import Policy

__all__ = ["describe_policy", "diff_policies", "expected_strength", "op_frequencies"]

_METADATA = ("schema_version", "name", "description", "provenance")


def _mean_magnitude(choice: ChoicePlan) -> float:
    low, high = choice.magnitudes
    return 0.5 * (low + high)


def op_frequencies(policy: Policy | PolicyPlan) -> dict[str, float]:
    """For each op, the probability that an image gets it at least once (identity left out), largest first."""
    plan = policy if isinstance(policy, PolicyPlan) else plan_policy(policy)
    frequencies: dict[str, float] = {}
    for sub in plan.subpolicies:
        missed: dict[str, float] = {}  # probability that no step of this sub-policy applies the op
        for step in sub.steps:
            chance: dict[str, float] = {}
            for choice in step.choices:
                chance[choice.op] = chance.get(choice.op, 0.0) + step.p * choice.probability
            for op, p in chance.items():
                missed[op] = missed.get(op, 1.0) * (1.0 - p)
        for op, p in missed.items():
            frequencies[op] = frequencies.get(op, 0.0) + sub.probability * (1.0 - p)
    frequencies.pop("identity", None)
    return dict(sorted(frequencies.items(), key=lambda item: (-item[1], item[0])))


def expected_strength(policy: Policy | PolicyPlan) -> tuple[float, float]:
    """``(expected ops per image, expected sum of normalised magnitudes per image)``; identity does not count,
    ops without a magnitude count as ops with strength 0."""
    plan = policy if isinstance(policy, PolicyPlan) else plan_policy(policy)
    ops = strength = 0.0
    for sub in plan.subpolicies:
        for step in sub.steps:
            for choice in step.choices:
                if choice.op == "identity":
                    continue
                fires = sub.probability * step.p * choice.probability
                ops += fires
                strength += fires * _mean_magnitude(choice) if OPS[choice.op].has_magnitude else 0.0
    return ops, strength


def _values_text(choice: ChoicePlan) -> str:
    """The physical values a choice draws: ``+4.89``, ``±0.6``, ``{2, 4, 6}``, ``±[0.1, 0.3]`` or ``[-1, 2]``."""
    variants = choice.variants
    if all(v.fixed for v in variants):
        values = sorted({v.low for v in variants})
        if len(values) == 2 and values[0] == -values[1]:
            return f"±{values[1]:.3g}"
        if len(values) <= 3:
            return ", ".join(f"{v:+.3g}" for v in values)
        return f"{len(values)} values in [{values[0]:.3g}, {values[-1]:.3g}]"
    if len(variants) == 2 and variants[0].low == -variants[1].high and variants[0].high == -variants[1].low:
        low, high = sorted((abs(variants[0].low), abs(variants[0].high)))
        return f"±[{low:.3g}, {high:.3g}]"
    return f"[{min(v.low for v in variants):.3g}, {max(v.high for v in variants):.3g}]"


def _describe_choice(choice: ChoicePlan, several: bool) -> str:
    text = choice.op
    if OPS[choice.op].has_magnitude:
        low, high = choice.magnitudes
        text += f" m={low:.2f}" if low == high else f" m=[{low:.2f},{high:.2f}]"
        text += f" ({_values_text(choice)})"
    return f"{text} w={choice.probability:.2f}" if several else text


def _describe_step(step: StepPlan) -> str:
    several = len(step.choices) > 1
    if len(step.choices) > 4:
        ops = sorted({choice.op for choice in step.choices})
        return f"p={step.p:.2f} one of {len(step.choices)} choices of {len(ops)} ops ({', '.join(ops)})"
    return f"p={step.p:.2f} " + " / ".join(_describe_choice(c, several) for c in step.choices)


def describe_policy(policy: Policy) -> str:
    """A plain-text table: settings, sub-policies with weights and steps, op frequencies, expected strength."""
    plan = plan_policy(policy)
    ops, strength = expected_strength(plan)
    lines = [
        f"policy {policy.name!r}: {len(plan.subpolicies)} sub-policies, fill {list(plan.fill)}, {plan.interpolation}",
        f"expected ops per image: {ops:.3f}; expected strength (sum of magnitudes applied): {strength:.3f}",
        "",
        f"{'#':>3}  {'weight':>6}  steps (m = normalised magnitude, physical values in brackets)",
    ]
    for i, sub in enumerate(plan.subpolicies):
        steps = " | ".join(_describe_step(step) for step in sub.steps)
        lines.append(f"{i:>3}  {sub.probability:>6.3f}  {steps}")
    header = f"{'op':<14}  {'P(applied)':>10}  {'mean m':>6}   physical values drawn"
    lines += ["", header + "   (P: probability that an image gets the op)"]
    magnitudes = _mean_magnitudes(plan)
    values = _op_values(plan)
    for op, frequency in op_frequencies(plan).items():
        mean = f"{magnitudes[op]:.3f}" if OPS[op].has_magnitude and op in magnitudes else "-"
        lines.append(f"{op:<14}  {frequency:>10.4f}  {mean:>6}   {values.get(op, '-')}")
    return "\n".join(lines) + "\n"


def _op_values(plan: PolicyPlan) -> dict[str, str]:
    """Per op with a magnitude, the physical values its choices draw, with their unit: ``±12.4 (degrees)`` for a
    symmetric range, ``[0.1, 0.9] (factor)`` otherwise."""
    spans: dict[str, tuple[float, float]] = {}
    for sub in plan.subpolicies:
        for step in sub.steps:
            for choice in step.choices:
                if not OPS[choice.op].has_magnitude:
                    continue
                low = min(v.low for v in choice.variants)
                high = max(v.high for v in choice.variants)
                seen = spans.get(choice.op, (low, high))
                spans[choice.op] = (min(seen[0], low), max(seen[1], high))
    out = {}
    for op, (low, high) in spans.items():
        if low == high:
            text = f"{low:.3g}"
        elif low < 0.0 and math.isclose(-low, high):
            text = f"±{high:.3g}"
        else:
            text = f"[{low:.3g}, {high:.3g}]"
        out[op] = f"{text} ({OPS[op].unit})"
    return out


def _mean_magnitudes(plan: PolicyPlan) -> dict[str, float]:
    """Mean normalised magnitude of each op over the times it fires."""
    weight: dict[str, float] = {}
    total: dict[str, float] = {}
    for sub in plan.subpolicies:
        for step in sub.steps:
            for choice in step.choices:
                fires = sub.probability * step.p * choice.probability
                weight[choice.op] = weight.get(choice.op, 0.0) + fires
                total[choice.op] = total.get(choice.op, 0.0) + fires * _mean_magnitude(choice)
    return {op: total[op] / weight[op] for op in weight if weight[op] > 0.0}


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            child = f"{path}.{key}" if path else key
            if key not in a or key not in b:
                out.append(f"{child}: {'only in B' if key not in a else 'only in A'}")
            else:
                _diff(a[key], b[key], child, out)
    elif isinstance(a, list) and isinstance(b, list) and (path.endswith(("subpolicies", "steps", "ops"))):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} in A, {len(b)} in B")
        for index in range(max(len(a), len(b))):
            if index >= len(a) or index >= len(b):
                out.append(f"{path}[{index}]: only in {'A' if index < len(a) else 'B'}")
            else:
                _diff(a[index], b[index], _named(path, index, a[index], b[index]), out)
    elif not _same(a, b):
        out.append(f"{path}: {_shown(a)} in A, {_shown(b)} in B")


def _named(path: str, index: int, a: Any, b: Any) -> str:
    """``ops[3]`` named by its op (``ops[3] (rotate)``, or ``(rotate / shear_x)`` where they differ)."""
    child = f"{path}[{index}]"
    if not path.endswith("ops") or not isinstance(a, dict) or not isinstance(b, dict):
        return child
    ops = a.get("op"), b.get("op")
    return f"{child} ({ops[0]})" if ops[0] == ops[1] else f"{child} ({ops[0]} / {ops[1]})"


def _shown(value: Any) -> str:
    """A value as a diff shows it: floats to 4 significant digits, the rest as Python writes them."""
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    return a == b


def diff_policies(a: Policy, b: Policy) -> list[str]:
    """Where two policies differ, one line per field path (metadata such as name and provenance is ignored)."""
    out: list[str] = []
    first, second = ({k: v for k, v in p.to_dict().items() if k not in _METADATA} for p in (a, b))
    _diff(first, second, "", out)
    return out
