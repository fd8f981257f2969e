"""The learners: the meta-network (controller), its model-free image features and its objectives."""

from augmeta.meta.affinity import AffinityObjective
from augmeta.meta.features import FEATURE_NAMES, image_features
from augmeta.meta.network import DEFAULT_OPS, DEFAULT_RANGES, MetaDraw, MetaNetwork, default_ops
from augmeta.meta.objectives import (
    OBJECTIVE_BURN_IN,
    OBJECTIVE_DEFAULTS,
    OBJECTIVES,
    GradientMatchingObjective,
    ImplicitObjective,
    LookaheadObjective,
    MetaObjective,
    TeacherObjective,
    build_objective,
    full_precision,
    objective_arguments,
    objective_settings,
    preserved_batchnorm,
)

__all__ = [
    "AffinityObjective",
    "DEFAULT_OPS",
    "DEFAULT_RANGES",
    "FEATURE_NAMES",
    "OBJECTIVES",
    "OBJECTIVE_BURN_IN",
    "OBJECTIVE_DEFAULTS",
    "GradientMatchingObjective",
    "ImplicitObjective",
    "LookaheadObjective",
    "MetaDraw",
    "MetaNetwork",
    "MetaObjective",
    "TeacherObjective",
    "build_objective",
    "default_ops",
    "full_precision",
    "image_features",
    "objective_arguments",
    "objective_settings",
    "preserved_batchnorm",
]
