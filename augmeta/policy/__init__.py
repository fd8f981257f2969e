"""Policy files: the data model, strict loading, atomic saving and batched per-sample application."""

from augmeta.policy.applier import PATHS, ApplyPath, apply_draws, apply_step
from augmeta.policy.errors import PolicyError
from augmeta.policy.io import load_policy
from augmeta.policy.policy import Policy, PolicyAugmentation
from augmeta.policy.sampler import OP_NAMES, Draws, StepDraw
from augmeta.policy.schema import SCHEMA_VERSION, OpChoice, Provenance, Step, SubPolicy, UniformMagnitude

__all__ = [
    "OP_NAMES",
    "PATHS",
    "SCHEMA_VERSION",
    "ApplyPath",
    "Draws",
    "OpChoice",
    "Policy",
    "PolicyAugmentation",
    "PolicyError",
    "Provenance",
    "Step",
    "StepDraw",
    "SubPolicy",
    "UniformMagnitude",
    "apply_draws",
    "apply_step",
    "load_policy",
]
