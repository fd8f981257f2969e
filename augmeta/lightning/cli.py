"""The training command line (``train.py``): a thin ``LightningCLI`` over :class:`AugMetaModule` and
:class:`AugDataModule`. With no arguments it runs ``fit`` on the embedded digits data set."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from collections.abc import Sequence

import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningCLI

from augmeta.lightning.callbacks import PolicyArtifacts
from augmeta.lightning.data import AugDataModule
from augmeta.lightning.module import AugMetaModule

__all__ = ["AugMetaCLI", "main", "tensorboard_available", "trainer_defaults"]

_SUBCOMMANDS = ("fit", "validate", "test", "predict")


class AugMetaCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.link_arguments("data.in_channels", "model.in_channels", apply_on="instantiate")
        parser.link_arguments("data.base_flip", "model.data_flip", apply_on="instantiate")
        parser.add_lightning_class_args(PolicyArtifacts, "artifacts")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        # train.py learns with the objective that measurably learns on planted structure (bench/README.md); the
        # module's own default stays gradient matching, which the recorded benchmarks of 0.1.0 ran
        parser.set_defaults({"checkpoint.save_last": True, "model.objective": "affinity"})


def tensorboard_available() -> bool:
    """Whether Lightning's ``TensorBoardLogger`` can write: it needs ``tensorboard`` or ``tensorboardX``."""
    return any(importlib.util.find_spec(name) is not None for name in ("tensorboard", "tensorboardX"))


def trainer_defaults(name: str = "augmeta") -> dict:
    """Defaults of the Trainer: logs and artefacts under ``runs/<name>/``, bf16 on a GPU, checkpoints (with last)
    written atomically.

    The logger is TensorBoard's where it is installed and CSV (``metrics.csv``) otherwise, as Lightning's own default
    chooses; either way ``PolicyArtifacts`` writes the policy's history as CSV.
    """
    logger = "TensorBoardLogger" if tensorboard_available() else "CSVLogger"
    return {
        "max_epochs": 30,
        "precision": "bf16-mixed" if torch.cuda.is_available() else "32-true",
        "log_every_n_steps": 5,
        "plugins": [{"class_path": "augmeta.lightning.checkpoint_io.AtomicCheckpointIO"}],
        "logger": {
            "class_path": f"pytorch_lightning.loggers.{logger}",
            "init_args": {"save_dir": "runs", "name": name, "version": ""},
        },
    }


def main(args: Sequence[str] | None = None) -> AugMetaCLI:
    """Run the command line; no subcommand means ``fit``."""
    warnings.filterwarnings("ignore", message="You have overridden `on_after_batch_transfer` in `LightningModule`")
    from_command_line = args is None
    args = list(sys.argv[1:] if args is None else args)
    if not args or (args[0] not in _SUBCOMMANDS and args[0] not in ("-h", "--help")):
        args = ["fit", *args]
    if from_command_line:  # LightningCLI reads sys.argv itself; passing args too makes it warn
        sys.argv = [sys.argv[0], *args]
    return AugMetaCLI(
        AugMetaModule,
        AugDataModule,
        trainer_defaults=trainer_defaults(),
        seed_everything_default=0,  # reproducible unless told otherwise (--seed_everything)
        save_config_kwargs={"overwrite": True},
        args=None if from_command_line else args,
    )
