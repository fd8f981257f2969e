"""The README's paths work as written: its quick tour, "Use a policy elsewhere" and "Train on your own data" code,
read from README.md itself (a tiny run stands in for the full one: the flags it adds come last)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import augmeta
from augmeta.cli import main as augmeta_main
from tests.datasets.helpers import write_png

ROOT = Path(augmeta.__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
LEARNED = ROOT / "policies" / "learned" / "augmeta_digits.json"
TINY = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"]
TINY += ["--trainer.enable_progress_bar", "false", "--model.width", "8", "--artifacts.plot", "false"]


def blocks(section: str, language: str) -> list[str]:
    """The ``language`` code blocks under the README heading ``section`` (up to the next ``##`` heading), in
    order."""
    start = README.index(f"\n## {section}\n")
    end = README.find("\n## ", start + 1)
    text = README[start : end if end > 0 else None]
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def commands(block: str) -> list[str]:
    """The commands of a bash block: one per line, comments dropped."""
    lines = [line.split("  #")[0].strip() for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


@pytest.fixture
def in_a_folder_with_policies(tmp_path, monkeypatch):
    """A working folder with the file names the README uses: policy.json (a learned policy), a.json, b.json."""
    for name in ("policy.json", "a.json"):
        shutil.copy(LEARNED, tmp_path / name)
    shutil.copy(ROOT / "policies" / "trivialaugment_wide.json", tmp_path / "b.json")
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.filterwarnings("ignore::UserWarning")  # the exports list their approximations
def test_the_python_of_the_quick_tour_and_of_using_a_policy_elsewhere_runs(in_a_folder_with_policies):
    for section in ("Quick tour (CPU)", "Use a policy elsewhere"):
        code = blocks(section, "python")[0]
        exec(compile(code, f"README.md ({section})", "exec"), {})  # the README's own code, run as a user would


def test_the_augmeta_commands_of_using_a_policy_elsewhere_run(in_a_folder_with_policies, capsys):
    block = blocks("Use a policy elsewhere", "bash")[0]
    ran = []
    for command in commands(block):
        words = shlex.split(command)
        assert words[0] == "augmeta"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = augmeta_main(words[1:])
        assert code == (1 if words[1] == "diff" else 0), (command, capsys.readouterr().err)  # diff: they differ
        ran.append(words[1])
    assert ran == ["export", "export", "diff"]
    assert (in_a_folder_with_policies / "policy_alb.json").is_file()
    assert (in_a_folder_with_policies / "policy_tv.py").is_file()


def test_the_first_own_data_command_trains_on_an_image_folder(tmp_path):
    block = blocks("Train on your own data", "bash")[0]
    first = commands(block)[0]
    assert first.startswith("python train.py fit --data.dataset image_folder --data.data_dir ~/my_images")
    images = tmp_path / "my_images"
    for name in ("cat", "dog"):
        for k in range(10):
            write_png(images / name / f"{k}.png", (25 * k, 10, 200 - 10 * k), (20, 20), "RGB")
    words = [str(images) if word == "~/my_images" else word for word in shlex.split(first)[2:]]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *words, *TINY, "--data.batch_size", "4"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    policy = augmeta.load_policy(tmp_path / "runs" / "augmeta" / "policy" / "latest.json")
    assert policy.provenance.learned_on.image_size == [64, 64] and policy.provenance.learned_on.channels == 3
