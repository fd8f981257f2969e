"""Lightning integration: the joint training module, data modules, callbacks and the command line."""

from augmeta.lightning.callbacks import PolicyArtifacts
from augmeta.lightning.checkpoint_io import AtomicCheckpointIO
from augmeta.lightning.data import DATASETS, AugDataModule, DatasetNotFoundError
from augmeta.lightning.module import (
    FIXED_POLICIES,
    AugMetaModule,
    ConfigurationError,
    NonFiniteLossError,
    resolve_policy,
)

__all__ = [
    "DATASETS",
    "AtomicCheckpointIO",
    "FIXED_POLICIES",
    "AugDataModule",
    "AugMetaModule",
    "ConfigurationError",
    "DatasetNotFoundError",
    "NonFiniteLossError",
    "PolicyArtifacts",
    "resolve_policy",
]
