"""augmeta: learn data-augmentation policies during training and use them anywhere."""

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

#: Names read from :mod:`augmeta.meta.tree` on first use, so that ``import augmeta`` stays as light as the policy layer.
_META_TREE = ("MetaTree", "MetaTreeAugmentation", "load_meta_tree")


def __getattr__(name: str):
    if name in _META_TREE:
        from augmeta.meta import tree

        return getattr(tree, name)
    raise AttributeError(f"module 'augmeta' has no attribute {name!r}")
