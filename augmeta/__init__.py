"""augmeta: learn data-augmentation policies during training and use them anywhere."""

from augmeta.meta.tree import MetaTree, MetaTreeAugmentation, load_meta_tree
from augmeta.policy import Policy, PolicyAugmentation, PolicyError, load_policy

__version__ = "0.1.0"

__all__ = [
    "MetaTree",
    "MetaTreeAugmentation",
    "Policy",
    "PolicyAugmentation",
    "PolicyError",
    "__version__",
    "load_meta_tree",
    "load_policy",
]
