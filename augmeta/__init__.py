"""augmeta: learn data-augmentation policies during training and use them anywhere."""

from augmeta.policy import Policy, PolicyAugmentation, PolicyError, load_policy

__version__ = "0.1.0"

__all__ = ["Policy", "PolicyAugmentation", "PolicyError", "__version__", "load_policy"]
