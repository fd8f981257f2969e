"""The accuracy benchmark's --protocol quick smoke run: every kind of method trains, tests and is summarised."""

import json
import os
import subprocess
import sys
from pathlib import Path

from .helpers import bench_script

ROOT = Path(__file__).resolve().parents[2]


def run_quick(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``bench/accuracy.py --protocol quick ARGS`` in a subprocess (one thread), which must succeed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    command = [sys.executable, str(ROOT / "bench" / "accuracy.py"), "--protocol", "quick", *args]
    completed = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed


def test_quick_protocol_runs_end_to_end(tmp_path):
    out = tmp_path / "results.json"
    methods = ["none", "trivialaugment", "augmeta-joint", "augmeta-retrain", "augmeta-frozen", "augmeta-teacher"]
    completed = run_quick(tmp_path, "--methods", *methods, "--out", str(out))
    lines = completed.stdout.strip().splitlines()
    assert lines[-1].startswith("learned_minus_best_fixed="), lines[-6:]
    assert lines[-2].startswith("learned_minus_frozen="), lines[-6:]  # what the controller's learning adds
    assert lines[-3].startswith("teacher_minus_best_fixed="), lines[-6:]
    assert lines[-4].startswith("frozen_minus_best_fixed="), lines[-6:]
    assert lines[-5].startswith("retrain_minus_best_fixed="), lines[-6:]
    frozen = next(r for r in json.loads(out.read_text())["results"] if r["method"] == "augmeta-frozen")
    assert frozen["controller"]["meta_lr"] == 0.0
    for method in methods:
        assert any(line.startswith(f"| digits | {method} |") for line in lines), method
    assert out.is_file()


def test_resume_keeps_the_runs_already_written(tmp_path):
    out = tmp_path / "results.json"

    def run(*methods: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        return run_quick(tmp_path, "--methods", *methods, "--out", str(out), "--resume", *extra)

    run("none")
    first = json.loads(out.read_text())["results"]
    second = run("none", "randaugment")
    written = json.loads(out.read_text())
    results = written["results"]
    assert len(written["commands"]) == 2 and all("--resume" in command for command in written["commands"])
    assert [r["method"] for r in results] == ["none", "randaugment"]
    assert results[0] == first[0]  # kept, not trained again (its wall time would differ)
    trained = [line for line in second.stdout.splitlines() if " seed 0: test " in line]
    assert len(trained) == 1 and trained[0].startswith("digits randaugment")
    assert any(line.startswith("| digits | none |") for line in second.stdout.splitlines())
    third = run("none", extra=("--epochs", "2"))  # other settings: not the same run, so trained again
    assert any(line.startswith("digits none ") and " seed 0: " in line for line in third.stdout.splitlines())
    assert [(r["method"], r["epochs"]) for r in json.loads(out.read_text())["results"]] == [
        ("none", 1),
        ("randaugment", 1),
        ("none", 2),
    ]


def test_report_tabulates_results_files_of_separate_seed_processes(tmp_path):
    """Seeds run in separate processes (``--seed-start K --seeds 1``); ``--report`` tabulates their files, training
    nothing, and compares each learned method with the best fixed one."""

    with bench_script("accuracy") as accuracy:
        controller = accuracy.controller_settings  # the settings each row records

    def row(method: str, seed: int, test_acc: float, seconds: float) -> dict:
        return {"dataset": "fashion_mnist", "epochs": 20, "meta": {}, "method": method, "seed": seed,
                "controller": controller(method, {}),
                "test_acc": test_acc, "val_acc": test_acc + 0.5, "seconds": seconds}  # fmt: skip

    for seed, (none, joint) in enumerate([(94.0, 94.1), (94.2, 94.1)]):
        results = [row("none", seed, none, 10.0), row("augmeta-joint", seed, joint, 15.0)]
        command = f"python bench/accuracy.py --seed-start {seed} --seeds 1"
        (tmp_path / f"seed{seed}.json").write_text(json.dumps({"commands": [command], "results": results}))
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    files = [str(tmp_path / "seed0.json"), str(tmp_path / "seed1.json")]
    command = [sys.executable, str(ROOT / "bench" / "accuracy.py"), "--protocol", "gpu", "--report", *files]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.strip().splitlines()
    assert "| fashion_mnist | none | 94.10 +/- 0.14 | 94.60 | 1.00x | 2 |" in lines
    assert "| fashion_mnist | augmeta-joint | 94.10 +/- 0.00 | 94.60 | 1.50x | 2 |" in lines
    # per seed +0.1 and -0.1: mean 0, standard error 0.1
    assert (
        lines[-1]
        == "learned_minus_best_fixed=+0.00 +/- 0.10  (best fixed: none; paired over 2 seeds, +/- standard error)"
    )
    assert "--seed-start 0" in lines[0] and "--seed-start 1" in lines[0]
