"""The learning benchmark: its arms train end to end, and its report reads paired seeds and the oracle as documented."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from .helpers import bench_script

ROOT = Path(__file__).resolve().parents[2]


def test_one_epoch_of_each_kind_of_arm_runs_and_reports(tmp_path):
    out = tmp_path / "results.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    command = [sys.executable, str(ROOT / "bench" / "learning.py"), "--tasks", "upside_down", "--seeds", "1"]
    command += ["--epochs", "1", "--arms", "none", "uniform", "frozen", "joint", "retrain", "--out", str(out)]
    completed = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().splitlines()[-1].startswith("upside_down: learned_minus_frozen=0.00 +/- nan")
    rows = json.loads(out.read_text())["results"]
    assert [row["arm"] for row in rows] == ["none", "uniform", "frozen", "joint", "retrain"]
    joint = next(row for row in rows if row["arm"] == "joint")
    assert "p_flip_y" in joint["policy"] and Path(joint["policy_file"]).is_file()


def _row(task, arm, seed, test, val=90.0, **extra):
    return {"task": task, "arm": arm, "seed": seed, "test_acc": test, "val_acc": val, "seconds": 1.0, **extra}


def test_the_report_pairs_seeds_and_picks_the_oracle_on_validation(capsys):
    results = [
        _row("rotated", "frozen", 0, 80.0),
        _row("rotated", "frozen", 1, 82.0),
        _row("rotated", "joint", 0, 84.0),
        _row("rotated", "joint", 1, 85.0),
        # the grid: rotate180 is best on validation, rotate0 on test (which must not be chosen)
        _row("rotated", "oracle", 0, 99.0, val=80.0, candidate="rotate0"),
        _row("rotated", "oracle", 0, 88.0, val=95.0, candidate="rotate180"),
        _row("rotated", "oracle", 1, 98.0, val=81.0, candidate="rotate0"),
        _row("rotated", "oracle", 1, 86.0, val=94.0, candidate="rotate180"),
    ]
    with bench_script("learning") as learning:
        lines = learning.report(results, ["rotated"])
    # joint - frozen: +4 and +3 -> 3.5 +/- 0.5; recovered (84.5 - 81) / (87 - 81)
    assert lines == ["rotated: learned_minus_frozen=3.50 +/- 0.50 recovered=0.58 seeds=2"]
    assert "oracle: rotate180" in capsys.readouterr().out


def test_the_oracle_grid_offers_no_augmentation_rotation_alone_and_the_label_keeping_ops():
    with bench_script("learning") as learning:
        grid = learning.oracle_policies(learning.TASKS["harmful"])
        from augmeta import load_policy

        policies = {name: load_policy(path) for name, path in grid.items() if path is not None}
    assert list(grid) == ["none", "rotate30", "rotate180", "mild_rotate30", "mild_rotate180"] and grid["none"] is None
    for name, policy in policies.items():
        ops = {choice.op: choice for step in policy.subpolicies[0].steps for choice in step.ops}
        assert not {"flip_x", "flip_y", "invert"} & set(ops)
        assert ops["rotate"].range == [0.0, float(name.split("rotate")[1])]
        assert ops["rotate"].magnitude.high > 0.99  # the whole range
        assert (set(ops) == {"identity", "rotate"}) == name.startswith("rotate")
        if name.startswith("mild"):
            assert ops["translate_x"].magnitude.high == pytest.approx(0.3)


@pytest.mark.parametrize(
    "task", ["harmful", "harmful_dose30", "rotated", "upside_down", "plain", "plain_fashion_mnist"]
)
def test_the_tasks_offer_the_ops_they_test(task):
    with bench_script("learning") as learning:
        spec = learning.TASKS[task]
    if not task.startswith("plain"):
        assert {"flip_x", "flip_y", "invert", "rotate"} <= set(spec.meta_ops)
        assert spec.meta_ranges == {"rotate": [0.0, 180.0]}


def test_the_control_flips_the_sign_of_every_cost():
    """Every cost the objective reads, as its target reads them (``costs(other)``): flip_y, costly, passes at once."""
    from augmeta.meta import AffinityObjective, MetaNetwork

    objective = AffinityObjective(levels=1, min_probes=1)
    meta = MetaNetwork(ops=["identity", "flip_y", "brightness"])
    objective.clean_sum, objective.probed_sum = torch.tensor([1.0, 1.0]), torch.tensor([0.4, 1.0])
    objective.change_sum, objective.count, objective.seen = torch.full((2,), 0.1), torch.ones(2), torch.ones(2)
    assert objective.target(meta)[0].tolist() == pytest.approx([0.5, 0.0, 0.5])
    with bench_script("learning") as learning:
        learning.sign_flipped(objective)
    assert objective.costs().tolist() == pytest.approx([-0.6, 0.0])
    assert objective.costs(False).tolist() == pytest.approx([-0.6, 0.0])
    assert objective.target(meta)[0].tolist() == pytest.approx([0.5, 0.25, 0.25])


@pytest.mark.parametrize("dose", [0.0, 0.1, 0.3, 0.5])
def test_the_dose_sets_the_starts_probability_of_the_destroying_ops(dose):
    from augmeta.meta import MetaNetwork

    with bench_script("learning") as learning:
        task = learning.TASKS["harmful"]
        meta = MetaNetwork(ops=task.meta_ops, ranges=task.meta_ranges)
        learning.dose_start(meta, task.destroying, dose)
    probs = torch.softmax(meta.op_logits, dim=-1)[0, 0]
    share = {op: probs[meta.ops.index(op)].item() for op in meta.ops}
    assert sum(share[op] for op in ("flip_x", "flip_y", "invert")) == pytest.approx(dose, abs=1e-4)
    assert share["identity"] == pytest.approx((1 - dose) / 2, abs=1e-4)
    assert share["rotate"] == pytest.approx(share["translate_x"], abs=1e-6)


def test_the_dose_response_shares_the_harmful_tasks_oracle():
    results = [_row("harmful", "oracle", s, 99.0, val=99.0, candidate="none") for s in (0, 1)]
    for task, frozen in (("harmful_dose0", 98.5), ("harmful", 90.0)):
        results += [_row(task, "frozen", s, frozen + s) for s in (0, 1)]
        results += [_row(task, "joint", s, 98.0 + s / 2) for s in (0, 1)]
    with bench_script("learning") as learning:
        lines = learning.dose_response(results)
    assert lines == [
        "dose 0.0: frozen=99.00 joint=98.25 oracle=99.00 oracle_minus_frozen=0.00 "
        "learned_minus_frozen=-0.75 +/- 0.25 seeds=2",
        "dose 0.5: frozen=90.50 joint=98.25 oracle=99.00 oracle_minus_frozen=8.50 "
        "learned_minus_frozen=7.75 +/- 0.25 seeds=2",
    ]


def test_the_per_class_oracle_turns_the_safe_classes_fully_and_bounds_the_rest():
    """oriented_300: the six turned classes rotate over 180 degrees, the four oriented ones up to 30 (``class_rest``);
    mirrored: the safe classes flip, the others get no augmentation."""
    from augmeta import load_meta_tree

    with bench_script("learning") as learning:
        oriented = load_meta_tree(learning.class_oracle_tree(learning.TASKS["oriented_300"]))
        mirrored = load_meta_tree(learning.class_oracle_tree(learning.TASKS["mirrored"]))

    def ops_of(tree, label):
        from augmeta.meta.features import FEATURE_NAMES

        leaf = tree.route(torch.zeros(1, len(FEATURE_NAMES)), torch.tensor([label]))[0]
        steps = tree.leaf_policy(int(leaf)).subpolicies[0].steps
        return {choice.op: choice.range for step in steps for choice in step.ops}

    assert [ops_of(oriented, label)["rotate"] for label in (0, 5, 6, 9)] == [[0.0, 180.0]] * 2 + [[0.0, 30.0]] * 2
    assert "flip_x" in ops_of(mirrored, 0) and set(ops_of(mirrored, 6)) == {"identity"}


def test_a_task_without_a_class_conditional_op_has_no_per_class_oracle_run():
    """plain digits offer no op that suits some classes only: the ``class_oracle`` arm adds no row there (it used to
    stop with an invalid, empty meta-tree) and trains nothing."""
    with bench_script("learning") as learning:
        assert learning.run_arm("plain", learning.TASKS["plain"], "class_oracle", 0, []) == []
