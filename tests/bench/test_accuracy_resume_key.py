"""``--resume`` keeps a run only if it had the same effective controller settings, module defaults included."""

import importlib
import sys
from pathlib import Path

import pytest

from augmeta.lightning import AugMetaModule

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def accuracy():
    sys.path.insert(0, str(BENCH))  # accuracy.py imports its neighbour script_setup as the scripts run it
    try:
        yield importlib.import_module("accuracy")
    finally:
        sys.path.remove(str(BENCH))


def row(method: str, **fields) -> dict:
    return {"dataset": "fashion_mnist_4k", "method": method, "seed": 0, "epochs": 30, "test_acc": 89.0, **fields}


def test_the_effective_settings_hold_the_module_defaults_then_meta_then_the_method(accuracy):
    settings = accuracy.controller_settings("augmeta-teacher", {"meta_lr": 0.01, "objective": "lookahead"})
    assert set(settings) == set(AugMetaModule.CONTROLLER_ARGUMENTS)
    assert settings["meta_lr"] == 0.01  # --meta over the default
    assert settings["objective"] == "teacher"  # the method's own over --meta
    assert settings["num_steps"] == accuracy.controller_defaults()["num_steps"] == 2
    assert accuracy.controller_settings("augmeta-retrain", {}) == accuracy.controller_settings("augmeta-joint", {})
    assert accuracy.controller_settings("autoaugment", {"meta_lr": 0.01}) == {}


def test_settings_left_none_are_the_objectives_own_unless_meta_sets_them(accuracy):
    joint, teacher = (accuracy.controller_settings(m, {}) for m in ("augmeta-joint", "augmeta-teacher"))
    assert (joint["meta_every"], joint["init_identity"], joint["init_magnitude"]) == (16, 0.5, 0.3)
    assert (teacher["meta_every"], teacher["init_identity"], teacher["init_magnitude"]) == (8, 0.95, 0.1)
    assert accuracy.controller_settings("augmeta-teacher", {"meta_every": 16})["meta_every"] == 16


def test_a_row_run_before_a_default_changed_is_not_kept_for_the_new_default(accuracy):
    """Rows that did not record their settings ran with ``meta_every=8`` and started near identity (0.95, 0.1);
    gradient matching's defaults are 16, 0.5 and 0.3 today."""
    legacy = row("augmeta-joint", meta={})
    key = {"dataset": "fashion_mnist_4k", "method": "augmeta-joint", "seed": 0, "epochs": 30}
    today = accuracy.controller_settings("augmeta-joint", {})
    assert today["meta_every"] == 16
    assert accuracy.kept_run([legacy], key, today) is None
    then = accuracy.controller_settings("augmeta-joint", accuracy.UNRECORDED_DEFAULTS)
    assert accuracy.kept_run([legacy], key, then) == legacy
    assert accuracy.kept_run([legacy], key, accuracy.controller_settings("augmeta-joint", {"meta_every": 8})) is None


def test_a_recorded_row_is_kept_only_for_its_own_settings(accuracy):
    settings = accuracy.controller_settings("augmeta-joint", {"meta_every": 4})
    recorded = row("augmeta-joint", meta={"meta_every": 4}, controller=settings)
    key = {"dataset": "fashion_mnist_4k", "method": "augmeta-joint", "seed": 0, "epochs": 30}
    assert accuracy.kept_run([recorded], key, settings) == recorded
    assert accuracy.kept_run([recorded], key, {**settings, "meta_lr": 0.5}) is None
    assert accuracy.kept_run([recorded], {**key, "seed": 1}, settings) is None
    assert accuracy.kept_run([recorded], {**key, "epochs": 20}, settings) is None


def test_a_fixed_method_is_kept_whatever_the_controller_settings(accuracy):
    """A fixed policy's run does not depend on ``--meta``, so changing it does not train ``none`` again."""
    fixed = row("none", meta={"meta_every": 4})
    key = {"dataset": "fashion_mnist_4k", "method": "none", "seed": 0, "epochs": 30}
    assert accuracy.kept_run([fixed], key, accuracy.controller_settings("none", {"meta_lr": 1.0})) == fixed


def test_a_row_without_augment_until_ran_with_the_policy_on_every_step(accuracy):
    legacy = row("autoaugment")
    key = {"dataset": "fashion_mnist_4k", "method": "autoaugment", "seed": 0, "epochs": 30}
    assert accuracy.kept_run([legacy], key | {"augment_until": 1.0}, {}) == legacy
    assert accuracy.kept_run([legacy], key | {"augment_until": 0.8}, {}) is None


def test_report_refuses_to_average_runs_of_different_settings(accuracy):
    defaults = row("augmeta-joint", controller=accuracy.controller_settings("augmeta-joint", {}))
    frozen_by_meta = row(
        "augmeta-joint", seed=1, controller=accuracy.controller_settings("augmeta-joint", {"meta_lr": 0.0})
    )
    with pytest.raises(SystemExit, match=r"augmeta-joint should have run with one setting.*'meta_lr': \(0.05, 0.0\)"):
        accuracy.check_one_setting([defaults, frozen_by_meta])
    legacy = row("augmeta-joint", seed=1)  # recorded nothing: the defaults of then (meta_every 8)
    with pytest.raises(SystemExit, match=r"'meta_every': \(16, 8\)"):
        accuracy.check_one_setting([defaults, legacy])
    with pytest.raises(SystemExit, match="seed 0 appears twice"):
        accuracy.check_one_setting([defaults, dict(defaults)])
    with pytest.raises(SystemExit, match=r"'epochs': \[20, 30\]"):
        accuracy.check_one_setting([defaults, {**defaults, "seed": 1, "epochs": 20}])
    same = {**defaults, "seed": 1}
    accuracy.check_one_setting([defaults, same, row("none", seed=0), row("none", seed=1)])  # one setting each: fine


def test_augmeta_frozen_is_the_joint_run_with_the_controller_still(accuracy):
    frozen = accuracy.controller_settings("augmeta-frozen", {})
    assert frozen == {**accuracy.controller_settings("augmeta-joint", {}), "meta_lr": 0.0}
    assert accuracy.controller_settings("augmeta-frozen", {"meta_lr": 0.2})["meta_lr"] == 0.0  # the method's own wins
