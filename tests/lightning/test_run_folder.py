"""Runs that never mix: a new run never writes beside an old one, ``--overwrite`` replaces it, a resumed run keeps
its log, and ``test`` leaves the training record alone and rebuilds the run from its own configuration."""

from __future__ import annotations

import csv

import pytest

from augmeta.lightning import cli
from augmeta.lightning.run_folder import (
    clear_run,
    free_run_folder,
    holds_a_run,
    run_config_for,
    trim_metrics,
)

from .test_cli import IN_PROCESS_WARNINGS

TINY = ["--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1", "--trainer.log_every_n_steps", "1"]
TINY += ["--trainer.enable_progress_bar", "false", "--model.width", "8", "--artifacts.plot", "false"]


def _main(monkeypatch, tmp_path, *args: str) -> cli.AugMetaCLI:
    monkeypatch.setattr("sys.argv", ["train.py"])
    monkeypatch.setattr(cli, "tensorboard_available", lambda: False)
    monkeypatch.chdir(tmp_path)  # the default run folder, runs/augmeta, is relative
    return cli.main(list(args))


def _epochs(path) -> list[int]:
    with path.open(newline="") as file:
        return sorted({int(row["epoch"]) for row in csv.DictReader(file) if row.get("epoch")})


# --------------------------------------------------------------------------------------------------- the helpers
def test_a_folder_holds_a_run_when_a_run_wrote_there(tmp_path):
    assert not holds_a_run(tmp_path / "nothing") and not holds_a_run(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    assert not holds_a_run(tmp_path)
    (tmp_path / "policy").mkdir()
    assert holds_a_run(tmp_path)


def test_the_next_free_version_is_taken(tmp_path):
    run = tmp_path / "augmeta"
    assert free_run_folder(run) == run
    for folder in (run, tmp_path / "augmeta_v2"):
        (folder / "checkpoints").mkdir(parents=True)
    assert free_run_folder(run) == tmp_path / "augmeta_v3"


def test_clear_run_deletes_what_a_run_wrote_and_nothing_else(tmp_path):
    (tmp_path / "policy").mkdir()
    (tmp_path / "policy" / "epoch_000.json").write_text("{}")
    (tmp_path / "metrics.csv").write_text("step\n1\n")
    (tmp_path / "events.out.tfevents.1.host").write_text("")
    (tmp_path / "test").mkdir()
    (tmp_path / "my_notes.txt").write_text("mine")
    (tmp_path / "data").mkdir()
    clear_run(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "my_notes.txt"]
    clear_run(tmp_path / "missing")  # nothing to do


def test_trim_metrics_keeps_the_rows_before_the_step(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,step,train_loss\n0,1,0.5\n0,3,0.4\n1,5,0.3\n1,,0.2\n")
    assert trim_metrics(path, 4) == 1
    assert path.read_text().splitlines() == ["epoch,step,train_loss", "0,1,0.5", "0,3,0.4", "1,,0.2"]
    assert trim_metrics(path, 4) == 0 and trim_metrics(tmp_path / "missing.csv", 4) == 0


def test_the_run_config_of_a_checkpoint(tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert run_config_for(str(ckpt)) is None  # no config.yaml
    (tmp_path / "run" / "config.yaml").write_text("model: {}\n")
    assert run_config_for(str(ckpt)) == tmp_path / "run" / "config.yaml"
    assert run_config_for("last") is None and run_config_for(None) is None
    assert run_config_for("http://example.org/run/checkpoints/x.ckpt") is None
    assert run_config_for(str(tmp_path / "run" / "x.ckpt")) is None  # not in a checkpoints folder


# --------------------------------------------------------------------------------------------------- whole runs
@pytest.mark.filterwarnings(*IN_PROCESS_WARNINGS)
def test_a_second_run_of_a_name_gets_its_own_folder_and_overwrite_replaces(tmp_path, monkeypatch, capsys):
    _main(monkeypatch, tmp_path, *TINY, "--trainer.max_epochs", "2")
    first = tmp_path / "runs" / "augmeta"
    before = {p.relative_to(first): p.read_bytes() for p in first.rglob("*") if p.is_file()}
    _main(monkeypatch, tmp_path, *TINY, "--trainer.max_epochs", "1")
    said = "runs/augmeta holds an earlier run; this run writes to runs/augmeta_v2 (--overwrite true: replace)"
    assert said in capsys.readouterr().out
    assert {p.relative_to(first): p.read_bytes() for p in first.rglob("*") if p.is_file()} == before  # untouched
    second = tmp_path / "runs" / "augmeta_v2"
    assert sorted(p.name for p in (second / "policy").iterdir()) == ["epoch_000.json", "latest.json"]
    assert sorted(p.name for p in (second / "checkpoints").iterdir()) == ["epoch=0-step=2.ckpt", "last.ckpt"]

    _main(monkeypatch, tmp_path, *TINY, "--trainer.max_epochs", "1", "--overwrite", "true")
    assert sorted(p.name for p in (first / "policy").iterdir()) == ["epoch_000.json", "latest.json"]  # no epoch_001
    assert not (tmp_path / "runs" / "augmeta_v3").exists()


@pytest.mark.filterwarnings(*IN_PROCESS_WARNINGS, "ignore:Checkpoint directory .* exists and is not empty")
def test_a_resumed_run_keeps_its_log_and_test_leaves_the_record_alone(tmp_path, monkeypatch):
    _main(monkeypatch, tmp_path, *TINY, "--trainer.max_epochs", "2")
    run = tmp_path / "runs" / "augmeta"
    with (run / "metrics.csv").open("a") as file:  # a row the interrupted run logged after its last checkpoint
        file.write("1" + "," * (len((run / "metrics.csv").read_text().splitlines()[0].split(",")) - 1) + "\n")
    rows_before = len((run / "metrics.csv").read_text().splitlines())
    _main(
        monkeypatch, tmp_path, *TINY, "--trainer.max_epochs", "3", "--ckpt_path", str(run / "checkpoints" / "last.ckpt")
    )
    assert not (tmp_path / "runs" / "augmeta_v2").exists()  # resumed in its own folder
    assert _epochs(run / "metrics.csv") == [0, 1, 2]  # epochs 0 and 1 kept, 2 appended
    assert len((run / "metrics.csv").read_text().splitlines()) > rows_before - 1
    assert sorted(p.name for p in (run / "policy").glob("epoch_*")) == [f"epoch_00{k}.json" for k in range(3)]

    record = {name: (run / name).read_bytes() for name in ("metrics.csv", "config.yaml")}
    # no --model.width: the run's own config.yaml rebuilds its width-8 model (a width-16 one could not load it)
    _main(monkeypatch, tmp_path, "test", "--ckpt_path", str(run / "checkpoints" / "last.ckpt"))
    assert {name: (run / name).read_bytes() for name in record} == record
    assert "test_acc" in (run / "test" / "metrics.csv").read_text().splitlines()[0]
    assert (run / "test" / "config.yaml").is_file()


@pytest.mark.parametrize(("variables", "first"), [({}, True), ({"LOCAL_RANK": "1"}, False), ({"RANK": "3"}, False),
                                                  ({"NODE_RANK": "1", "LOCAL_RANK": "0"}, False),
                                                  ({"SLURM_PROCID": "0", "RANK": "0"}, True)])  # fmt: skip
def test_only_the_first_process_picks_the_folder(monkeypatch, variables, first):
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert cli.first_process() is first


@pytest.mark.filterwarnings(*IN_PROCESS_WARNINGS)
def test_a_later_ddp_process_neither_clears_nor_versions_the_folder(tmp_path, monkeypatch):
    _main(monkeypatch, tmp_path, *TINY, "--trainer.max_epochs", "1")
    run = tmp_path / "runs" / "augmeta"
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    monkeypatch.setenv("LOCAL_RANK", "1")  # as Lightning's launcher starts the second process
    monkeypatch.setattr(cli.AugMetaCLI, "_run_subcommand", lambda self, subcommand: None)  # its setup, not its run
    _main(monkeypatch, tmp_path, *TINY, "--trainer.max_epochs", "1", "--overwrite", "true")
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
    assert not (tmp_path / "runs" / "augmeta_v2").exists()


def test_a_run_config_naming_another_package_is_refused(tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    config = tmp_path / "run" / "config.yaml"
    config.write_text("trainer:\n  callbacks:\n  - class_path: pytorch_lightning.callbacks.ModelCheckpoint\n")
    ckpt = str(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert run_config_for(ckpt) == config
    config.write_text("trainer:\n  callbacks:\n  - class_path: evil.Payload\n    init_args: {}\n")
    with pytest.raises(ValueError, match=r"should name classes of augmeta, .* only \(reading it imports them\), "
                                         r"but names 'evil.Payload'"):  # fmt: skip
        run_config_for(ckpt)
    with pytest.raises(cli.ConfigurationError, match="but names 'evil.Payload'"):
        cli.main(["test", "--ckpt_path", ckpt])
