"""The training command line (``train.py``): a thin ``LightningCLI`` over :class:`AugMetaModule` and
:class:`AugDataModule`. With no arguments it runs ``fit`` on the embedded digits data set."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from jsonargparse import DefaultHelpFormatter
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningCLI

from augmeta.datasets import DatasetNotFoundError, ImageFileError
from augmeta.lightning.callbacks import PolicyArtifacts
from augmeta.lightning.data import AugDataModule
from augmeta.lightning.module import AugMetaModule, ConfigurationError, NonFiniteLossError
from augmeta.lightning.run_folder import clear_run, free_run_folder, run_config_for
from augmeta.policy import PolicyError

#: Errors whose message says all a user needs: ``train.py`` prints them as one line (exit 1), not a traceback.
USER_ERRORS = (ConfigurationError, DatasetNotFoundError, ImageFileError, NonFiniteLossError, PolicyError)

__all__ = [
    "USER_ERRORS",
    "AugMetaCLI",
    "ConfigurationError",
    "first_process",
    "main",
    "tensorboard_available",
    "trainer_defaults",
]

_SUBCOMMANDS = ("fit", "validate", "test", "predict")


_SPHINX_ROLE = re.compile(r":(?:data|class|func|meth|attr|mod):`~?([^`]+)`")


class PlainHelpFormatter(DefaultHelpFormatter):
    """``--help`` from the docstrings without their Sphinx markup: ``:data:`x``` and ````x```` read as ``x``."""

    def _expand_help(self, action) -> str:
        return _SPHINX_ROLE.sub(r"\1", super()._expand_help(action)).replace("``", "")


class _NoTips(logging.Filter):
    """Lightning's advertisement of a cloud logger, printed at every run, is not ours to show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith("💡 Tip:")


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
        parser.add_argument(
            "--overwrite",
            type=bool,
            default=False,
            help="fit: delete the run already in runs/<name> and write this one there (default: a run folder that "
            "holds a run is left alone and this run goes to the next free runs/<name>_v<k>)",
        )

    def instantiate_classes(self) -> None:
        """Build the model, data and trainer; a ``ValueError`` from their argument checks is the user's setting, so
        it becomes a :class:`ConfigurationError` (one line from ``train.py``)."""
        try:
            super().instantiate_classes()
        except ValueError as error:
            if isinstance(error, USER_ERRORS):
                raise
            raise ConfigurationError(str(error)) from error

    def before_instantiate_classes(self) -> None:
        """Give each run its own folder (:mod:`augmeta.lightning.run_folder`): a new ``fit`` goes to the next free
        ``runs/<name>[_v<k>]`` (or clears its own with ``--overwrite``), a resumed one stays in its folder, and
        ``test``, ``validate`` and ``predict`` log into ``<run>/<subcommand>/``."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        logger = config.get("trainer", {}).get("logger")
        arguments = getattr(logger, "init_args", None)
        if arguments is None or arguments.get("version", "") not in ("", None) or not arguments.get("name"):
            return  # no logger, or one whose folder the user set in full: left as given
        if not arguments.get("save_dir"):
            return  # a logger of another kind (no folder of runs to keep apart)
        folder = Path(arguments.save_dir) / arguments.name
        if self.subcommand != "fit":
            arguments.version = self.subcommand
        elif not first_process():
            pass  # under DDP the first process alone picks (or clears) the folder; the others only read its paths
        elif config.get("overwrite") and not config.get("ckpt_path"):
            clear_run(folder)
        elif not config.get("ckpt_path"):
            free = free_run_folder(folder)
            if free != folder:
                print(f"augmeta: {folder} holds an earlier run; this run writes to {free} (--overwrite true: replace)")
                arguments.name, folder = free.name, free
        checkpoint = config.get("checkpoint")
        if checkpoint is not None and checkpoint.get("dirpath") is None:  # the run's own, for test too (not <run>/test)
            checkpoint.dirpath = str((folder / "checkpoints").resolve())


def first_process() -> bool:
    """Whether this is the first process of a run (global rank 0 by the variables Lightning, torchrun and SLURM set;
    a process without them is the first): under DDP only it touches the run folder, the others start later and
    would find its files there."""
    return all(int(os.environ.get(name, "0") or 0) == 0 for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


def tensorboard_available() -> bool:
    """Whether Lightning's ``TensorBoardLogger`` can write: it needs ``tensorboard`` or ``tensorboardX``."""
    return any(importlib.util.find_spec(name) is not None for name in ("tensorboard", "tensorboardX"))


def trainer_defaults(name: str = "augmeta") -> dict:
    """Defaults of the Trainer: logs and artefacts under ``runs/<name>/``, bf16 on a GPU, checkpoints (with last)
    written atomically.

    The logger is TensorBoard's where it is installed and CSV (``metrics.csv``) otherwise, as Lightning's own default
    chooses; either way ``PolicyArtifacts`` writes the policy's history as CSV.
    """
    logger = (
        "pytorch_lightning.loggers.TensorBoardLogger"
        if tensorboard_available()
        else "augmeta.lightning.run_folder.ResumableCSVLogger"
    )
    return {
        "max_epochs": 30,
        "precision": "bf16-mixed" if torch.cuda.is_available() else "32-true",
        "log_every_n_steps": 5,
        "plugins": [{"class_path": "augmeta.lightning.checkpoint_io.AtomicCheckpointIO"}],
        "logger": {
            "class_path": logger,
            "init_args": {"save_dir": "runs", "name": name, "version": ""},
        },
    }


def _with_run_config(args: list[str]) -> list[str]:
    """``test``, ``validate`` or ``predict`` given a run's checkpoint and no ``--config``: the run's own
    ``config.yaml`` comes first, so its data and model are rebuilt as they were trained (flags still override)."""
    if args[0] not in ("test", "validate", "predict") or any(a.split("=", 1)[0] == "--config" for a in args):
        return args
    ckpt = next((a.split("=", 1)[1] for a in args if a.startswith("--ckpt_path=")), None)
    if ckpt is None and "--ckpt_path" in args[:-1]:
        ckpt = args[args.index("--ckpt_path") + 1]
    config = run_config_for(ckpt)
    return args if config is None else [args[0], "--config", str(config), *args[1:]]


def main(args: Sequence[str] | None = None) -> AugMetaCLI:
    """Run the command line; no subcommand means ``fit``."""
    warnings.filterwarnings("ignore", message="You have overridden `on_after_batch_transfer` in `LightningModule`")
    # Lightning 2.6's own code calls what torch 2.14 deprecates; nothing a user of train.py can change
    warnings.filterwarnings("ignore", r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning)
    # a small data set has fewer batches an epoch than the logging interval: its epoch metrics are logged anyway
    warnings.filterwarnings("ignore", r"The number of training batches \(\d+\) is smaller than the logging interval")
    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_NoTips())
    from_command_line = args is None
    args = list(sys.argv[1:] if args is None else args)
    if not args or (args[0] not in _SUBCOMMANDS and args[0] not in ("-h", "--help")):
        args = ["fit", *args]
    try:
        try:
            args = _with_run_config(args)
        except ValueError as error:  # a run config that names untrusted classes
            raise ConfigurationError(str(error)) from error
        if from_command_line:  # LightningCLI reads sys.argv itself; passing args too makes it warn
            sys.argv = [sys.argv[0], *args]
        return AugMetaCLI(
            AugMetaModule,
            AugDataModule,
            trainer_defaults=trainer_defaults(),
            seed_everything_default=0,  # reproducible unless told otherwise (--seed_everything)
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"formatter_class": PlainHelpFormatter},
            args=None if from_command_line else args,
        )
    except USER_ERRORS as error:
        if not from_command_line:
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
