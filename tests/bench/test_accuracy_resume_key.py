"""``--resume`` keeps a run only if it had the same effective controller settings, module defaults included."""

import json

import pytest

from augmeta.lightning import AugMetaModule

from .helpers import bench_script


@pytest.fixture(scope="module")
def accuracy():
    with bench_script("accuracy") as module:
        yield module


def row(method: str, **fields) -> dict:
    return {"dataset": "fashion_mnist_4k", "method": method, "seed": 0, "epochs": 30, "test_acc": 89.0, "val_acc": 89.5,
            "seconds": 1.0, **fields}  # fmt: skip


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


def test_none_is_the_same_run_whatever_augment_until_is(accuracy):
    """``none`` has no policy to switch off: a table of ``--augment-until 0.8`` compares with its one run."""
    key = {"dataset": "fashion_mnist_4k", "method": "none", "seed": 0, "epochs": 30}
    for recorded in (row("none"), row("none", augment_until=0.8)):
        assert accuracy.kept_run([recorded], key | {"augment_until": 1.0}, {}) == recorded
        assert accuracy.kept_run([recorded], accuracy.run_key(**key, augment_until=0.8), {}) == recorded
    refined = accuracy.run_key(**(key | {"method": "autoaugment"}), augment_until=0.8)
    assert accuracy.kept_run([row("autoaugment")], refined, {}) is None


def test_report_tabulates_only_the_runs_of_the_settings_asked_for(accuracy, tmp_path, capsys):
    """A mean over runs of different settings describes no run: ``--report`` keeps what ``--resume`` would."""
    joint = accuracy.controller_settings("augmeta-joint", {})
    still = accuracy.controller_settings("augmeta-joint", {"meta_lr": 0.0})
    rows = [
        row("none", seed=0, test_acc=88.0),
        row("none", seed=1, test_acc=88.4),
        row("augmeta-joint", seed=0, test_acc=89.0, controller=joint),
        row("augmeta-joint", seed=1, test_acc=89.2, controller=joint),
        row("augmeta-joint", seed=1, test_acc=80.0, controller=joint),  # the same run again: the first is kept
        row("augmeta-joint", seed=0, test_acc=70.0, controller=still),  # --meta '{"meta_lr": 0.0}'
        row("augmeta-joint", seed=2, test_acc=60.0),  # recorded nothing: the defaults of then (meta_every 8)
    ]
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"commands": ["python bench/accuracy.py"], "results": rows}))
    methods = ["none", "augmeta-joint"]
    _, tables = accuracy.report([results], methods, {}, 1.0, None)
    assert tables["fashion_mnist_4k"]["augmeta-joint"]["by_seed"] == {0: 89.0, 1: 89.2}
    assert tables["fashion_mnist_4k"]["none"]["n"] == 2
    assert "fashion_mnist_4k augmeta-joint (3)" in capsys.readouterr().out  # left out, and said so
    _, tables = accuracy.report([results], methods, {"meta_lr": 0.0}, 1.0, None)
    assert tables["fashion_mnist_4k"]["augmeta-joint"]["by_seed"] == {0: 70.0}
    assert tables["fashion_mnist_4k"]["none"]["n"] == 2  # a fixed policy's runs whatever --meta is
    _, tables = accuracy.report([results], methods, {}, 1.0, 20)  # --epochs 20: none of these
    assert "none" not in tables["fashion_mnist_4k"]


def test_augmeta_frozen_is_the_joint_run_with_the_controller_still(accuracy):
    frozen = accuracy.controller_settings("augmeta-frozen", {})
    assert frozen == {**accuracy.controller_settings("augmeta-joint", {}), "meta_lr": 0.0}
    assert accuracy.controller_settings("augmeta-frozen", {"meta_lr": 0.2})["meta_lr"] == 0.0  # the method's own wins


def test_a_row_recorded_before_meta_batch_size_ran_the_whole_batch(accuracy):
    """Such rows are kept where today's ``meta_batch_size`` covers the recipe's batch (reduced Fashion-MNIST: 128
    images, the default 128) and not where it takes a part of it (full Fashion-MNIST: 512)."""
    today = accuracy.controller_settings("augmeta-joint", {})
    assert today["meta_batch_size"] == 128
    before = {k: v for k, v in today.items() if k != "meta_batch_size"}
    for dataset, kept in (("fashion_mnist_4k", True), ("fashion_mnist", False)):
        recorded = row("augmeta-joint", meta={}, controller=before) | {"dataset": dataset}
        key = {"dataset": dataset, "method": "augmeta-joint", "seed": 0, "epochs": 30}
        assert (accuracy.kept_run([recorded], key, today) == recorded) is kept, dataset
        whole = accuracy.controller_settings("augmeta-joint", {"meta_batch_size": None})
        assert accuracy.kept_run([recorded], key, whole) == recorded, dataset
    fixed = row("none", controller={})
    assert accuracy.kept_run([fixed], {"dataset": "fashion_mnist_4k", "method": "none", "seed": 0, "epochs": 30}, {})


def test_a_meta_batch_of_the_batch_or_more_is_the_whole_batch(accuracy):
    settings = accuracy.controller_settings("augmeta-joint", {"meta_batch_size": 32})
    assert accuracy.effective_controller(settings, 32)["meta_batch_size"] is None
    assert accuracy.effective_controller(settings, 64)["meta_batch_size"] == 32
    assert accuracy.effective_controller({}, 64) == {}


def test_a_row_without_meta_size_learned_from_the_validation_split(accuracy):
    key = accuracy.run_key("fashion_mnist_4k", "augmeta-joint", 0, 30, 1.0)
    settings = accuracy.controller_settings("augmeta-joint", {})
    legacy = row("augmeta-joint", controller=settings)
    assert key["meta_size"] is None and accuracy.kept_run([legacy], key, settings) == legacy
    own_split = accuracy.run_key("fashion_mnist_4k", "augmeta-joint", 0, 30, 1.0, meta_size=6000)
    assert accuracy.kept_run([legacy], own_split, settings) is None
    recorded = row("augmeta-joint", controller=settings, meta_size=6000)
    assert accuracy.kept_run([recorded], own_split, settings) == recorded
    assert accuracy.kept_run([recorded], key, settings) is None


def test_the_controllers_split_changes_a_fixed_run_only_where_it_takes_training_images(accuracy):
    """On a subset recipe the split comes from the images the subset leaves out: a fixed policy's run is the same."""
    subset = accuracy.run_key("fashion_mnist_4k", "autoaugment", 0, 30, 1.0, meta_size=6000)
    assert subset["meta_size"] is None
    assert accuracy.kept_run([row("autoaugment", meta_size=6000)], subset, {}) is not None
    assert accuracy.kept_run([row("autoaugment")], subset, {}) is not None
    full = accuracy.run_key("fashion_mnist", "autoaugment", 0, 20, 1.0, meta_size=6000)
    assert full["meta_size"] == 6000  # the training split gives the images up: a different run
    assert accuracy.kept_run([row("autoaugment", dataset="fashion_mnist", epochs=20)], full, {}) is None
