"""``research/pick_learned.py`` picks a recipe's joint run by validation accuracy and writes its policy and metrics."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from augmeta import load_policy
from augmeta.meta import MetaNetwork

from .helpers import RESEARCH, bench_script, research_script


@pytest.fixture(scope="module")
def pick():
    with research_script("pick_learned") as module:
        yield module


@pytest.fixture(scope="module")
def accuracy():
    with bench_script("accuracy") as module:
        yield module


def row(method: str, seed: int, val: float, test: float, **recipe) -> dict:
    """A row as ``bench/accuracy.py`` records a run of the digits recipe (30 epochs), today's controller defaults
    (or ``meta``'s) unless ``recipe`` says otherwise."""
    with bench_script("accuracy") as accuracy:
        controller = accuracy.controller_settings(method, recipe.get("meta", {}))
    return {"dataset": "digits", "method": method, "seed": seed, "epochs": 30, "val_acc": val, "test_acc": test,
            "seconds": 1.0, "meta": {}, "controller": controller, **recipe}  # fmt: skip


def write_results(path: Path, rows: list[dict]) -> Path:
    path.write_text(json.dumps({"commands": [], "results": rows}))
    return path


def run_policy(folder: Path, seed: int) -> Path:
    """A joint run's policy file, as ``bench/accuracy.py``'s runs write them (copied under their seed)."""
    network = MetaNetwork(ops=["identity", "rotate", "contrast"], init_identity=0.5, init_magnitude=0.3)
    return network.to_policy(f"digits_seed{seed}").save(folder / f"digits_joint_seed{seed}.json")


def test_rows_of_other_recipes_methods_and_data_sets_are_left_out(pick, tmp_path):
    rows = [
        row("augmeta-joint", 0, 99.0, 98.0, augment_until=0.8),
        row("augmeta-joint", 1, 99.5, 98.5),  # always on: another recipe
        row("augmeta-joint", 2, 99.9, 99.9, augment_until=0.8, meta={"objective": "teacher"}),
        row("augmeta-joint", 3, 99.9, 99.9, augment_until=0.8, meta_size=6000),
        {**row("augmeta-joint", 4, 99.9, 99.9, augment_until=0.8), "dataset": "fashion_mnist_4k"},
        row("augmeta-retrain", 0, 98.0, 97.0, augment_until=0.8),
        row("none", 0, 99.9, 99.9, augment_until=0.8),
    ]
    results = write_results(tmp_path / "r.json", rows)
    assert list(pick.recipe_rows([results], "digits", "augmeta-joint", 0.8)) == [0]
    assert list(pick.recipe_rows([results], "digits", "augmeta-joint", 1.0)) == [1]
    assert pick.recipe_rows([results], "digits", "augmeta-retrain", 0.8)[0]["val_acc"] == 98.0


def test_the_runs_are_those_accuracys_report_keeps(pick, accuracy, tmp_path):
    """Another epoch count or the controller defaults of an earlier version are other recipes; of a run repeated
    (``--resume`` appends), the first row counts, as in ``bench/accuracy.py --report``'s tables."""
    earlier = {**accuracy.controller_settings("augmeta-joint", {}), "meta_every": 3}
    rows = [
        row("augmeta-joint", 0, 99.0, 98.0, epochs=20),
        row("augmeta-joint", 1, 99.9, 99.9, controller=earlier),
        row("augmeta-joint", 2, 99.0, 98.0),
        row("augmeta-joint", 2, 99.2, 98.4),
    ]
    first = write_results(tmp_path / "a.json", rows[:3])
    repeat = write_results(tmp_path / "b.json", rows[3:])
    kept = pick.recipe_rows([first, repeat], "digits", "augmeta-joint", 1.0)
    assert kept == {2: {"seed": 2, "val_acc": 99.0, "test_acc": 98.0}}


def test_the_policy_file_is_the_first_pattern_that_exists_and_a_missing_one_is_named(pick, tmp_path):
    (tmp_path / "b").mkdir()
    found = run_policy(tmp_path / "b", seed=3)
    patterns = [
        str(tmp_path / "a" / "digits_joint_seed{seed}.json"),
        str(tmp_path / "b" / "digits_joint_seed{seed}.json"),
    ]
    assert pick.policy_file(patterns, 3) == found
    with pytest.raises(FileNotFoundError, match="seed 4's policy file should be one of .*, but none exists."):
        pick.policy_file(patterns, 4)


def test_the_script_picks_by_validation_accuracy_and_records_what_the_runs_measured(tmp_path):
    rows = [
        row("augmeta-joint", 0, 99.0, 99.9, augment_until=0.8),  # the best test accuracy: not a reason to pick it
        row("augmeta-joint", 1, 99.6, 98.0, augment_until=0.8),
        row("augmeta-joint", 2, 99.6, 98.4, augment_until=0.8),  # ties seed 1 on validation: the lower seed wins
        row("augmeta-retrain", 1, 99.4, 98.3, augment_until=0.8),
    ]
    results = write_results(tmp_path / "r.json", rows)
    for seed in range(3):
        run_policy(tmp_path, seed)
    out = tmp_path / "learned" / "augmeta_digits.json"
    command = [
        sys.executable, str(RESEARCH / "pick_learned.py"), str(results), "--dataset", "digits",
        "--augment-until", "0.8", "--policy-files", str(tmp_path / "digits_joint_seed{seed}.json"),
        "--name", "augmeta_digits", "--out", str(out),
    ]  # fmt: skip
    printed = subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()

    assert printed[2:] == [
        "| 0 | 99.00 | 99.90 | - | - |",
        "| 1 | 99.60 | 98.00 | 99.40 | 98.30 |",
        "| 2 | 99.60 | 98.40 | - | - |",
        "picked_seed=1 val_acc=99.60 test_acc=98.00",
    ]
    picked, source = load_policy(out), load_policy(tmp_path / "digits_joint_seed1.json")
    assert picked.name == "augmeta_digits"
    assert picked.subpolicies == source.subpolicies
    assert picked.provenance.metrics == {
        "joint_val_acc": 99.6, "joint_test_acc": 98.0, "retrain_val_acc": 99.4, "retrain_test_acc": 98.3
    }  # fmt: skip
    assert "recipe digits, --augment-until 0.8, seed 1" in picked.provenance.notes
    assert sorted(p.name for p in out.parent.iterdir()) == ["augmeta_digits.json"]  # written atomically, no leftovers
