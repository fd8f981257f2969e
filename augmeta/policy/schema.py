"""The policy data model (schema version 1), validated strictly with pydantic.

A policy is a weighted choice of sub-policies; a sub-policy is a sequence of steps; a step fires with
probability ``p`` and then applies one op drawn from its weighted ``ops``. Each op choice carries its
magnitude (fixed, or uniform over an interval, optionally over ``levels`` evenly spaced values), its
physical ``range`` (value at m = 0 and m = 1) and whether it is ``signed``: a file means the same thing forever.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from augmeta.ops import OPS

__all__ = [
    "MAX_IMAGE_SIDE",
    "MAX_LEVELS",
    "MAX_OPS_PER_STEP",
    "MAX_STEPS",
    "MAX_SUBPOLICIES",
    "MAX_WEIGHT",
    "SCHEMA_VERSION",
    "LearnedOn",
    "OpChoice",
    "PolicyModel",
    "Provenance",
    "Step",
    "StrictModel",
    "SubPolicy",
    "UniformMagnitude",
]

SCHEMA_VERSION = 1

#: Limits of the format, which keep reading, describing and applying a file bounded in time and memory (the tables
#: :meth:`augmeta.Policy.apply` builds are sub-policies x steps x ops).
MAX_SUBPOLICIES = 1024
MAX_STEPS = 32
MAX_OPS_PER_STEP = 64
MAX_LEVELS = 1024
MAX_WEIGHT = 1e6
MAX_IMAGE_SIDE = 65536  # the largest height or width ``learned_on`` may record

_CONFIG = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class StrictModel(BaseModel):
    """The strictness of every augmeta file format: unknown fields, coerced types and NaN are refused."""

    model_config = _CONFIG


def _check_weight(value: float) -> float:
    if not 0 <= value <= MAX_WEIGHT:
        raise ValueError(f"should be in [0, {MAX_WEIGHT:g}] (only ratios matter), but got {value!r} instead.")
    return value


def _check_unit_interval(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"should be in [0, 1], but got {value!r} instead.")
    return value


class UniformMagnitude(StrictModel):
    """A magnitude drawn uniformly from ``[low, high]``; with ``levels`` from that many evenly spaced values."""

    low: float
    high: float
    levels: int | None = None

    @field_validator("low", "high")
    @classmethod
    def _in_unit_interval(cls, value: float) -> float:
        return _check_unit_interval(value)

    @field_validator("levels")
    @classmethod
    def _at_least_two(cls, value: int | None) -> int | None:
        if value is not None and not 2 <= value <= MAX_LEVELS:
            raise ValueError(f"should be an integer in [2, {MAX_LEVELS}] or null, but got {value!r} instead.")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> UniformMagnitude:
        if self.low > self.high:
            raise ValueError(f"should have low <= high, but got low={self.low!r} and high={self.high!r} instead.")
        return self


def _magnitude_kind(value: Any) -> str:
    return "uniform" if isinstance(value, (dict, UniformMagnitude)) else "fixed"


Magnitude = Annotated[
    Annotated[float, Tag("fixed")] | Annotated[UniformMagnitude, Tag("uniform")], Discriminator(_magnitude_kind)
]


class OpChoice(StrictModel):
    """One op a step may apply, with its weight among the step's ops, its magnitude, range and sign."""

    op: str
    weight: float = Field(default=1.0)
    magnitude: Magnitude = 0.0
    range: list[float] | None
    signed: bool

    @field_validator("op")
    @classmethod
    def _known_op(cls, value: str) -> str:
        if value not in OPS:
            raise ValueError(f"should be one of {sorted(OPS)}, but got {value!r} instead.")
        return value

    @field_validator("weight")
    @classmethod
    def _bounded_weight(cls, value: float) -> float:
        return _check_weight(value)

    @field_validator("magnitude")
    @classmethod
    def _magnitude_in_unit_interval(cls, value: float | UniformMagnitude) -> float | UniformMagnitude:
        return _check_unit_interval(value) if isinstance(value, float) else value

    @model_validator(mode="after")
    def _range_fits_op(self) -> OpChoice:
        spec = OPS[self.op]
        if spec.default_range is None:
            if self.range is not None or self.signed:
                raise ValueError(
                    f"op {self.op!r} has no magnitude, so `range` should be null and `signed` false, "
                    f"but got range={self.range!r} and signed={self.signed!r} instead."
                )
            return self
        if self.range is None or len(self.range) != 2:
            raise ValueError(f"`range` of op {self.op!r} should be [lo, hi], but got {self.range!r} instead.")
        lo, hi = spec.limits
        values = [*self.range, *(-v for v in self.range)] if self.signed else self.range
        outside = [v for v in values if not lo <= v <= hi]
        if outside:
            raise ValueError(
                f"`range` of op {self.op!r} should stay within [{lo}, {hi}] ({spec.unit}"
                f"{', for both signs' if self.signed else ''}), but got {self.range!r} instead."
            )
        return self


def _check_weights(weights: list[float], what: str) -> None:
    total = math.fsum(weights)
    if not total > 0.0:
        raise ValueError(f"should have {what} with a positive total, but got {weights!r} (total {total!r}) instead.")


class Step(StrictModel):
    """Fire with probability ``p``, then apply one of ``ops`` drawn by weight."""

    p: float
    ops: list[OpChoice] = Field(min_length=1, max_length=MAX_OPS_PER_STEP)

    @field_validator("p")
    @classmethod
    def _probability(cls, value: float) -> float:
        return _check_unit_interval(value)

    @model_validator(mode="after")
    def _weights(self) -> Step:
        _check_weights([choice.weight for choice in self.ops], "`ops[*].weight`")
        return self


class SubPolicy(StrictModel):
    """A sequence of steps, picked among the policy's sub-policies by ``weight``."""

    weight: float = 1.0
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)

    @field_validator("weight")
    @classmethod
    def _bounded_weight(cls, value: float) -> float:
        return _check_weight(value)


class LearnedOn(StrictModel):
    """The images a policy was learned on: the data set's name, their channels and size (height, width), so that
    applying it to other images can say so."""

    dataset: str = Field(max_length=200)
    channels: Literal[1, 3]
    image_size: list[Annotated[int, Field(ge=1, le=MAX_IMAGE_SIDE)]] = Field(min_length=2, max_length=2)


class Provenance(StrictModel):
    """Where a policy comes from: ``source`` (a paper, a library, a run) and free-form details; a learned policy
    also says what it was ``learned_on`` (left out of the file when unknown)."""

    source: str
    method: str
    created_by: str = ""
    notes: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    learned_on: LearnedOn | None = None


class PolicyModel(StrictModel):
    """The file format; :class:`augmeta.Policy` adds sampling, applying and saving."""

    schema_version: int
    name: str
    description: str = ""
    fill: list[float] = Field(default_factory=lambda: [0.0], min_length=1, max_length=3)
    interpolation: Literal["nearest", "bilinear"] = "nearest"
    subpolicies: list[SubPolicy] = Field(min_length=1, max_length=MAX_SUBPOLICIES)
    provenance: Provenance

    @field_validator("schema_version")
    @classmethod
    def _supported_version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(
                f"should be {SCHEMA_VERSION} (the newest version this augmeta reads), but got {value!r} instead; "
                + ("upgrade augmeta to read it." if value > SCHEMA_VERSION else "versions start at 1.")
            )
        return value

    @field_validator("fill")
    @classmethod
    def _fill_values(cls, value: list[float]) -> list[float]:
        if len(value) == 2 or any(not 0.0 <= v <= 1.0 for v in value):
            raise ValueError(f"should be 1 or 3 values in [0, 1], but got {value!r} instead.")
        return value

    @model_validator(mode="after")
    def _weights(self) -> PolicyModel:
        _check_weights([sub.weight for sub in self.subpolicies], "`subpolicies[*].weight`")
        return self
