"""``augmeta.lightning.cli``: the Trainer's defaults, and the logger they choose writing where the run's files go."""

from __future__ import annotations

import importlib.util

import pytest

from augmeta.lightning import AtomicCheckpointIO, cli

# the warnings of an in-process LightningCLI fit: Lightning 2.6 calls jsonargparse APIs that 4.49 deprecates, and
# torch 2.14 deprecates the treespec check Lightning makes
IN_PROCESS_WARNINGS = (
    "ignore::jsonargparse._deprecated.JsonargparseDeprecationWarning",
    r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning",
)
TINY_RUN = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"]
TINY_RUN += ["--trainer.log_every_n_steps", "1", "--trainer.enable_progress_bar", "false", "--model.width", "8"]
TINY_RUN += ["--artifacts.plot", "false"]


@pytest.mark.parametrize(
    ("installed", "logger"),
    [
        (True, "pytorch_lightning.loggers.TensorBoardLogger"),
        (False, "augmeta.lightning.run_folder.ResumableCSVLogger"),
    ],
)
def test_the_default_logger_is_tensorboard_where_installed(monkeypatch, installed, logger):
    monkeypatch.setattr(cli, "tensorboard_available", lambda: installed)
    defaults = cli.trainer_defaults("mine")
    assert defaults["plugins"] == [{"class_path": "augmeta.lightning.checkpoint_io.AtomicCheckpointIO"}]
    assert defaults["logger"] == {
        "class_path": logger,
        "init_args": {"save_dir": "runs", "name": "mine", "version": ""},
    }


def test_tensorboard_available_looks_for_either_writer(monkeypatch):
    found = {"tensorboard": None, "tensorboardX": object()}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: found[name])
    assert cli.tensorboard_available()
    found["tensorboardX"] = None
    assert not cli.tensorboard_available()


def _fit(tmp_path, monkeypatch) -> cli.AugMetaCLI:
    monkeypatch.setattr("sys.argv", ["train.py"])  # LightningCLI warns when pytest's arguments are there too
    return cli.main([*TINY_RUN, "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")])


@pytest.mark.filterwarnings(*IN_PROCESS_WARNINGS)
def test_without_tensorboard_the_run_logs_csv_with_the_policy(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "tensorboard_available", lambda: False)
    trainer = _fit(tmp_path, monkeypatch).trainer
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    run = tmp_path / "runs" / "augmeta"
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train_loss_epoch", "policy/p_identity", "policy/m_rotate"} <= set(header)
    assert (run / "policy_history.csv").is_file() and (run / "policy" / "latest.json").is_file()


@pytest.mark.filterwarnings(*IN_PROCESS_WARNINGS)
def test_with_tensorboard_the_run_writes_event_files_beside_the_policy(tmp_path, monkeypatch):
    if not cli.tensorboard_available():
        pytest.skip("neither tensorboard nor tensorboardX is installed")
    _fit(tmp_path, monkeypatch)
    run = tmp_path / "runs" / "augmeta"
    assert list(run.glob("events.out.tfevents.*"))
    assert (run / "policy_history.csv").is_file() and (run / "policy" / "latest.json").is_file()


@pytest.mark.filterwarnings(*IN_PROCESS_WARNINGS)
def test_a_setting_the_module_refuses_is_a_configuration_error(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["train.py"])
    with pytest.raises(cli.ConfigurationError, match=r"^`meta_mode` should be 'global' or 'class' for objective"):
        cli.main([*TINY_RUN, "--model.meta_mode", "adaptive", "--trainer.logger.init_args.save_dir", str(tmp_path)])
    assert issubclass(cli.ConfigurationError, ValueError) and cli.ConfigurationError in cli.USER_ERRORS
