"""The learners: the meta-network (controller), its model-free image features, its objectives, and the meta-tree
distilled from it (reading and applying a tree needs neither the network nor scikit-learn)."""

from augmeta.meta.affinity import AffinityObjective
from augmeta.meta.features import FEATURE_NAMES, image_features
from augmeta.meta.network import DEFAULT_OPS, DEFAULT_RANGES, MODES, MetaDraw, MetaNetwork, default_ops
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
from augmeta.meta.tree import MetaTree, MetaTreeAugmentation, load_meta_tree
from augmeta.meta.tree_fit import fit_meta_tree, policy_descriptors

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
    "MODES",
    "MetaDraw",
    "MetaNetwork",
    "MetaObjective",
    "MetaTree",
    "MetaTreeAugmentation",
    "TeacherObjective",
    "build_objective",
    "default_ops",
    "fit_meta_tree",
    "full_precision",
    "image_features",
    "load_meta_tree",
    "objective_arguments",
    "objective_settings",
    "policy_descriptors",
    "preserved_batchnorm",
]
