"""The table of data set specs: one consistent, frozen spec per data set."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys

import pytest
import torchvision.datasets

from augmeta.datasets import DATASET_SPECS, DATASETS, SYSTEM_FASHION_MNIST_DIR, DatasetSpec, dataset_spec


def test_the_table_names_every_data_set_once_in_order():
    plain = ("digits", "fashion_mnist", "mnist", "cifar10", "cifar100", "svhn", "image_folder")
    assert DATASETS == (
        *plain,
        "rotated_fashion_mnist",
        "upside_down_fashion_mnist",
        "rotated_digits",
        "upside_down_digits",
        "mirrored_fashion_mnist",
        "mirrored_digits",
        "turned_digits",
        "oriented_digits",
    )
    assert all(name == spec.name for name, spec in DATASET_SPECS.items())


@pytest.mark.parametrize("spec", DATASET_SPECS.values(), ids=DATASETS)
def test_every_spec_is_consistent(spec: DatasetSpec):
    assert spec.source in ("sklearn_digits", "torchvision", "image_folder", "planted")
    if spec.source == "planted":  # the base's shape and test split; its own classes
        base = DATASET_SPECS[spec.planted_from]
        assert base.source != "planted" and (spec.channels, spec.image_size) == (base.channels, base.image_size)
        assert spec.test_fraction == base.test_fraction
        assert spec.planted_task in ("rotated", "upside_down", "mirrored", "turned", "oriented")
        assert (spec.planted_items is not None) == (spec.planted_task != "rotated")
        assert (spec.planted_symmetric is not None) == (spec.planted_task in ("mirrored", "oriented"))
        assert len(spec.class_names) == spec.num_classes and len(set(spec.class_names)) == spec.num_classes
        return
    assert spec.channels in (1, 3) and spec.image_size >= 8
    if spec.class_names is not None:
        assert len(spec.class_names) == spec.num_classes and len(set(spec.class_names)) == spec.num_classes
    if spec.num_classes is None:  # counted from its folders
        assert spec.source == "image_folder" and spec.class_names is None
    # a test fraction exactly where the files may have no test split
    if spec.source == "torchvision":
        assert spec.test_fraction is None
    else:
        assert spec.test_fraction is not None and 0.0 < spec.test_fraction < 1.0
    torchvision_fields = (spec.idx_folder, spec.system_dir, spec.channels_last, spec.split_keyword != "train")
    if spec.source != "torchvision":
        assert spec.torchvision_class is None and not any(torchvision_fields) and spec.labels_attribute == "targets"
    else:
        assert hasattr(torchvision.datasets, spec.torchvision_class) and spec.downloadable
    assert spec.channels == 3 or not spec.channels_last
    assert (spec.system_dir is None) == (spec.system_package is None)
    assert spec.system_dir is None or spec.idx_folder is not None  # a system folder holds idx files
    assert spec.class_names_from_files == (spec.source == "torchvision" and spec.class_names is None)


def test_what_the_specs_say():
    assert [DATASET_SPECS[name].num_classes for name in DATASETS] == [
        10,
        10,
        10,
        10,
        100,
        10,
        None,
        10,
        10,
        10,
        10,
        10,
        10,
        10,
        10,
    ]
    assert [(spec.channels, spec.image_size) for spec in DATASET_SPECS.values()] == [
        (1, 8), (1, 28), (1, 28), (3, 32), (3, 32), (3, 32), (3, 32), (1, 28), (1, 28), (1, 8), (1, 8), (1, 28), (1, 8),
        (1, 8), (1, 8),
    ]  # fmt: skip
    assert DATASET_SPECS["upside_down_digits"].class_names[:2] == ("2 (upright)", "2 (upside down)")
    assert DATASET_SPECS["fashion_mnist"].system_dir == SYSTEM_FASHION_MNIST_DIR
    assert DATASET_SPECS["fashion_mnist"].class_names[0] == "T-shirt/top"
    assert {name for name, spec in DATASET_SPECS.items() if spec.class_names_from_files} == {"cifar10", "cifar100"}
    assert not DATASET_SPECS["mirrored_fashion_mnist"].base_flip  # a flip changes a sneaker's class


def test_specs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DATASET_SPECS["digits"].channels = 3


@pytest.mark.parametrize("name", ["imagenet", None])
def test_an_unknown_name(name):
    message = (
        "`dataset` should be one of ['digits', 'fashion_mnist', 'mnist', 'cifar10', 'cifar100', 'svhn', "
        "'image_folder', 'rotated_fashion_mnist', 'upside_down_fashion_mnist', 'rotated_digits', "
        "'upside_down_digits', 'mirrored_fashion_mnist', 'mirrored_digits', 'turned_digits', 'oriented_digits'], "
        f"but got {name!r} instead."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        dataset_spec(name)


def test_the_package_imports_nothing_above_it():
    """Both Lightning's data module and ``augmeta.export`` import it, so it imports neither (nor scikit-learn, late)."""
    probe = (
        "import json, sys, augmeta.datasets\n"
        "heavy = ('pytorch_lightning', 'lightning', 'augmeta.lightning', 'augmeta.export', 'augmeta.meta', 'sklearn')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))))\n"
    )
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_the_base_flip_follows_each_data_set_convention():
    """Mirrored clothes and objects keep their class (and their orientation); mirrored digits and unknown folders may
    not."""
    flipped = {name for name, spec in DATASET_SPECS.items() if spec.base_flip}
    assert flipped == {"fashion_mnist", "cifar10", "cifar100", "rotated_fashion_mnist", "upside_down_fashion_mnist"}
