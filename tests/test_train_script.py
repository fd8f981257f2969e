"""``python train.py``: a tiny run writes its artefacts, ``--print_config`` shows the defaults, a missing data set is
named. Each process imports torch and Lightning (seconds), so the three run at once, started by one fixture."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

import augmeta
from tests.datasets.helpers import write_png

TRAIN_SCRIPT = Path(augmeta.__file__).resolve().parents[1] / "train.py"
# OMP_NUM_THREADS=1: three processes share the machine; spin-waiting intra-op threads would slow each one many times
ENVIRONMENT = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "OMP_NUM_THREADS": "1"}
TINY_RUN = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "1"]
TINY_RUN += ["--trainer.log_every_n_steps", "1", "--trainer.enable_progress_bar", "false", "--model.width", "8"]


def start(cwd: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, str(TRAIN_SCRIPT), *args]
    return subprocess.Popen(
        command, cwd=cwd, env=ENVIRONMENT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture(scope="module")
def empty_data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("empty_data_dir")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, empty_data_dir) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """name -> (working directory, finished process) for a tiny run, ``--print_config``, a missing data set and a
    tiny run on a folder of grey images in ImageFolder's ``root/<class>`` layout."""
    folders = {name: tmp_path_factory.mktemp(name) for name in ("train", "print_config", "missing", "grey_folder")}
    images = folders["grey_folder"] / "images"
    for name in ("circle", "square"):
        for k in range(20):
            write_png(images / name / f"{k}.png", (10 * k,), (12, 12), "L")
    started = {
        "grey_folder": start(
            folders["grey_folder"],
            *TINY_RUN,
            "--data.dataset",
            "image_folder",
            "--data.data_dir",
            str(images),
            "--data.image_size",
            "16",
            "--data.batch_size",
            "8",
        ),
        "train": start(
            folders["train"], *TINY_RUN, "--trainer.logger.init_args.save_dir", str(folders["train"] / "runs")
        ),
        "print_config": start(folders["print_config"], "fit", "--print_config"),
        "missing": start(folders["missing"], "--data.dataset", "cifar10", "--data.data_dir", str(empty_data_dir)),
    }
    finished = {}
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=300)
        finished[name] = (folders[name], subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return finished


def test_a_grey_image_folder_trains_a_one_channel_model(runs):
    folder, result = runs["grey_folder"]
    assert result.returncode == 0, result.stderr
    policy = augmeta.load_policy(folder / "runs" / "augmeta" / "policy" / "latest.json")
    assert policy.provenance.learned_on.model_dump() == {
        "dataset": "image_folder", "channels": 1, "image_size": [16, 16]
    }  # fmt: skip
    assert "color" not in {op.op for sub in policy.subpolicies for step in sub.steps for op in step.ops}


def test_a_tiny_run_writes_its_artifacts(runs):
    folder, result = runs["train"]
    assert result.returncode == 0, result.stderr
    run = folder / "runs" / "augmeta"
    for name in ("policy/latest.json", "policy/epoch_000.json"):
        policy = augmeta.load_policy(run / name)
        assert policy.name == "augmeta_epoch_000"
        assert policy.provenance.method == "augmeta-global"
    state = torch.load(run / "meta_network.pt", weights_only=True)
    assert "op_logits" in state
    config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    assert config["model"]["policy"] == "augmeta"
    assert config["model"]["width"] == 8
    assert config["trainer"]["max_epochs"] == 1
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert (run / "policy_evolution.png").read_bytes().startswith(b"\x89PNG")


def test_the_end_of_a_run_says_what_it_made_and_what_next(runs):
    folder, result = runs["train"]
    run = folder / "runs" / "augmeta"
    said = result.stdout + result.stderr
    summary = said[said.index(f"augmeta: run finished: {run}") :]
    assert "last validation: val_acc " in summary and "learned policy, P(op) per step: identity " in summary
    assert "moved from its start: " in summary
    assert f"augmeta describe {run / 'policy' / 'latest.json'}" in summary
    assert f"python train.py test --ckpt_path {run / 'checkpoints' / 'last.ckpt'}" in summary


def test_no_warning_about_the_command_line_arguments(runs):
    """``main()`` hands ``sys.argv`` to LightningCLI as ``args``, so every run warned that both were given."""
    for name in ("train", "print_config", "missing"):
        assert "LightningCLI's args parameter is intended to run from within Python" not in runs[name][1].stderr


def test_print_config_shows_the_defaults(runs):
    _, result = runs["print_config"]
    assert result.returncode == 0, result.stderr
    assert "  policy: augmeta\n" in result.stdout
    config = yaml.safe_load(result.stdout)
    assert config["model"]["policy"] == "augmeta"
    assert config["data"]["dataset"] == "digits"
    assert config["trainer"]["logger"]["init_args"] == {
        **config["trainer"]["logger"]["init_args"],
        "save_dir": "runs",
        "name": "augmeta",
        "version": "",
    }


def test_a_missing_data_set_is_named(runs, empty_data_dir):
    _, result = runs["missing"]
    assert result.returncode != 0
    message = (
        f"Dataset 'cifar10' not found: torchvision found no files under `data_dir` ({empty_data_dir}). "
        "To get it, download it with `--data.download true` (torchvision, on a machine with internet) "
        "into `--data.data_dir`."
    )
    assert message in result.stderr
    assert result.returncode == 1 and "Traceback" not in result.stderr  # one line, not a traceback
    assert result.stderr.splitlines()[-1] == f"error: {message}"
