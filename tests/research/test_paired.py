"""``research/paired.py`` pairs the seeds of two methods under their own controller settings."""

import json
import re
import subprocess
import sys

import pytest

from .helpers import RESEARCH, bench_script, research_script


@pytest.fixture(scope="module")
def accuracy():
    with bench_script("accuracy") as module:
        yield module


def row(accuracy, method: str, seed: int, test: float, val: float, meta: dict) -> dict:
    return {
        "dataset": "digits", "method": method, "seed": seed, "epochs": 30, "test_acc": test, "val_acc": val,
        "seconds": 1.0, "augment_until": 0.8, "meta": meta, "controller": accuracy.controller_settings(method, meta),
    }  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(RESEARCH / "paired.py"), "--dataset", "digits", "--augment-until", "0.8", *args]
    return subprocess.run(command, capture_output=True, text=True)


def test_each_side_keeps_its_own_settings_rows_and_the_common_seeds_are_paired(accuracy, tmp_path):
    implicit = {"objective": "implicit"}
    rows = [
        row(accuracy, "augmeta-joint", 0, 99.0, 98.0, implicit),
        row(accuracy, "augmeta-joint", 1, 98.0, 98.5, implicit),
        row(accuracy, "augmeta-joint", 2, 90.0, 90.0, implicit),  # no seed 2 on the other side
        row(accuracy, "augmeta-joint", 0, 97.0, 97.0, {}),
        row(accuracy, "augmeta-joint", 1, 97.5, 98.5, {}),
        row(accuracy, "augmeta-joint", 1, 50.0, 50.0, {"meta_lr": 0.0}),  # other settings: left out
    ]
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"commands": ["python bench/accuracy.py"], "results": rows}))
    done = run("--a", "augmeta-joint", json.dumps(implicit), str(results), "--b", "augmeta-joint", "{}", str(results))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "| 0 | 99.00 | 97.00 | 98.00 | 97.00 |" in lines
    assert "| 1 | 98.00 | 97.50 | 98.50 | 98.50 |" in lines
    assert not any(line.startswith("| 2 |") for line in lines)
    # test differences +2.0 and +0.5: mean +1.25, s.e. 0.75; val +1.0 and 0.0: mean +0.5, s.e. 0.5
    assert lines[-1] == "a_minus_b test=+1.25 +/- 0.75  val=+0.50 +/- 0.50  (2 seeds; +/- s.e.)"


def test_a_side_without_runs_or_with_bad_settings_says_so(accuracy, tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"commands": [], "results": [row(accuracy, "augmeta-joint", 0, 99.0, 98.0, {})]}))
    with research_script("paired") as paired:
        expected = f"--a: no augmeta-frozen runs on digits with settings {{}} in ['{results}']."
        with pytest.raises(SystemExit, match=re.escape(expected)):
            paired.seed_results(["augmeta-frozen", "{}", str(results)], "a", "digits", 0.8, None, None)
        with pytest.raises(SystemExit, match=re.escape("--b: the settings should be a JSON object, but got '{nope'")):
            paired.side(["augmeta-joint", "{nope", str(results)], "b")
        expected = "--a should be METHOD SETTINGS FILE [FILE ...], but got ['augmeta-joint', '{}']."
        with pytest.raises(SystemExit, match=re.escape(expected)):
            paired.side(["augmeta-joint", "{}"], "a")
        with pytest.raises(SystemExit, match="--a and --b have no seed in common."):
            paired.paired({0: (1.0, 1.0)}, {1: (1.0, 1.0)})
