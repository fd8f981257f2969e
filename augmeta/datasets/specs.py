"""What each data set is: one frozen :class:`DatasetSpec` per data set, in one table, :data:`DATASET_SPECS`.

A spec says what the data looks like before any file is read (channels, image size, classes), where it loads from,
and how much of it is held out as the test split where the data set has none. :mod:`augmeta.datasets.loaders` reads
the files a spec describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "DATASETS",
    "DATASET_SPECS",
    "DEFAULT_FOLDER_IMAGE_SIZE",
    "DIGIT_CLASSES",
    "FASHION_MNIST_CLASSES",
    "IDX_FILES",
    "SYSTEM_FASHION_MNIST_DIR",
    "DatasetSpec",
    "DatasetSource",
    "dataset_spec",
]

SYSTEM_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DIGIT_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_MNIST_CLASSES = tuple("T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot".split(","))
DEFAULT_FOLDER_IMAGE_SIZE = 32

#: Items of the upside-down tasks: ones whose upside-down image is not another item's upright one (no 6 and 9).
FASHION_MNIST_UPSIDE_DOWN_ITEMS = (0, 1, 5, 7, 9)  # T-shirt/top, Trouser, Sandal, Sneaker, Ankle boot
DIGITS_UPSIDE_DOWN_ITEMS = (2, 3, 4, 5, 7)
#: Items of the mirrored task: ones whose mirror image is still read as the digit, and two that are not (each two
#: classes); no 7, whose mirror image is close to a written 1 or 2 turned.
DIGITS_MIRRORED_SYMMETRIC = (0, 1, 4, 5, 6, 8)
DIGITS_MIRRORED_CHIRAL = (2, 3)
#: Items of the turned task: digits turned at random, and (the rest) digits kept upright; 9 turns and 6 does not, so
#: a turned 6 is read as a 9.
DIGITS_TURNED_ITEMS = (0, 1, 3, 8, 9)
#: Items of the oriented task: six digits turned over the whole circle (no 6 with the 9: a turned 6 is a 9), and
#: two, upright or upside down, that are two classes each (items of the upside-down task).
DIGITS_ORIENTED_TURNED = (0, 1, 2, 3, 5, 8)
DIGITS_ORIENTED_ITEMS = (4, 7)
#: Fashion-MNIST's mirrored task: clothes read the same mirrored; every sneaker and ankle boot points left, so a
#: mirrored one is a class of its own.
FASHION_MNIST_MIRRORED_SYMMETRIC = (0, 1, 2, 3, 4, 6)  # T-shirt/top, Trouser, Pullover, Dress, Coat, Shirt
FASHION_MNIST_MIRRORED_CHIRAL = (7, 9)  # Sneaker, Ankle boot


def _upside_down_names(names: tuple[str, ...], items: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(f"{names[item]} ({side})" for item in items for side in ("upright", "upside down"))


def _mirrored_names(names: tuple[str, ...], symmetric: tuple[int, ...], chiral: tuple[int, ...]) -> tuple[str, ...]:
    sides = ("as written", "mirrored")
    return (*(names[item] for item in symmetric), *(f"{names[item]} ({side})" for item in chiral for side in sides))


DatasetSource = Literal["sklearn_digits", "torchvision", "image_folder", "planted"]


@dataclass(frozen=True)
class DatasetSpec:
    """One image classification data set, as known before any of its files is read.

    Args:
        name: the name ``AugDataModule(dataset=...)`` and the ``--data.dataset`` option take.
        source: ``"sklearn_digits"`` (scikit-learn's bundled digits), ``"torchvision"`` (a ``torchvision.datasets``
            class, or idx files first where ``idx_folder`` is set), ``"image_folder"`` (``train/<class>/<image>``) or
            ``"planted"`` (made from ``planted_from``'s images, :mod:`augmeta.datasets.planted`).
        channels: channels of the images served (1: grey, 3: RGB).
        image_size: native height (= width) of the images; ``image_folder``: the size its images are resized to
            unless another is asked for.
        num_classes: known before loading; None: as many as the class folders (``image_folder``).
        class_names: by label; None: read from the data (CIFAR's files, ``image_folder``'s folders).
        test_fraction: the fraction of the data held out (stratified) as the test split where the files have no
            test split; None: the files always have one.
        torchvision_class: the ``torchvision.datasets`` class, by name (looked up when called, never at import).
        split_keyword: how that class picks a split: ``"train"`` (``train=True/False``) or ``"split"``
            (``split="train"/"test"``, SVHN).
        labels_attribute: the class's attribute holding the labels (``"targets"``, SVHN: ``"labels"``).
        channels_last: the class's ``.data`` is ``[N, H, W, C]`` (CIFAR); otherwise ``[N, H, W]`` or ``[N, C, H, W]``.
        idx_folder: idx files are looked for before torchvision's own files: in ``data_dir`` and in
            ``data_dir/<idx_folder>/raw`` (where torchvision downloads them).
        system_dir: a system-wide folder of the idx files, looked in last.
        system_package: the Debian package that fills ``system_dir``, named when the data set is missing.
        planted_from: ``planted`` only: the data set whose images it is made from (:mod:`augmeta.datasets.planted`).
        planted_task: ``planted`` only: ``"rotated"``, ``"upside_down"``, ``"mirrored"``, ``"turned"`` or
            ``"oriented"``.
        planted_items: ``upside_down``, ``mirrored`` and ``oriented``: the base labels kept, each made two classes
            (upright and upside down; as written and mirrored); ``turned``: the base labels turned.
        planted_symmetric: ``mirrored`` and ``oriented`` only: base labels kept as one class each, mirrored at random
            (``oriented``: turned over the whole circle).
        planted_jitter: ``upside_down`` and ``oriented`` only: the largest turn, in degrees, either way of upright or
            upside down.
        base_flip: the data set's convention for the base recipe of fixed-policy runs: a random horizontal flip
            where a mirrored image is still an image of its class (clothes, objects), none where it is not (digits,
            house numbers, unknown folders). A learned policy decides flips itself.
    """

    name: str
    source: DatasetSource
    channels: int
    image_size: int
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    test_fraction: float | None = None
    torchvision_class: str | None = None
    split_keyword: Literal["train", "split"] = "train"
    labels_attribute: str = "targets"
    channels_last: bool = False
    idx_folder: str | None = None
    system_dir: Path | None = None
    system_package: str | None = None
    planted_from: str | None = None
    planted_task: Literal["rotated", "upside_down", "mirrored", "turned", "oriented"] | None = None
    planted_items: tuple[int, ...] | None = None
    planted_symmetric: tuple[int, ...] | None = None
    planted_jitter: float = 0.0
    base_flip: bool = False

    @property
    def class_names_from_files(self) -> bool:
        """The class names are read from the files (CIFAR), so they are known after loading only."""
        return self.class_names is None and self.source == "torchvision"

    @property
    def downloadable(self) -> bool:
        """torchvision can download it (a planted data set: its base)."""
        if self.source == "planted":
            return dataset_spec(self.planted_from).downloadable
        return self.source == "torchvision"


DATASET_SPECS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "digits", "sklearn_digits", channels=1, image_size=8, num_classes=10, class_names=DIGIT_CLASSES,
            test_fraction=0.25,
        ),
        DatasetSpec(
            "fashion_mnist", "torchvision", channels=1, image_size=28, num_classes=10,
            class_names=FASHION_MNIST_CLASSES, torchvision_class="FashionMNIST", idx_folder="FashionMNIST",
            system_dir=SYSTEM_FASHION_MNIST_DIR, system_package="dataset-fashion-mnist", base_flip=True,
        ),
        DatasetSpec(
            "mnist", "torchvision", channels=1, image_size=28, num_classes=10, class_names=DIGIT_CLASSES,
            torchvision_class="MNIST", idx_folder="MNIST",
        ),
        DatasetSpec(
            "cifar10", "torchvision", channels=3, image_size=32, num_classes=10, torchvision_class="CIFAR10",
            channels_last=True, base_flip=True,
        ),
        DatasetSpec(
            "cifar100", "torchvision", channels=3, image_size=32, num_classes=100, torchvision_class="CIFAR100",
            channels_last=True, base_flip=True,
        ),
        DatasetSpec(
            "svhn", "torchvision", channels=3, image_size=32, num_classes=10, class_names=DIGIT_CLASSES,
            torchvision_class="SVHN", split_keyword="split", labels_attribute="labels",
        ),
        DatasetSpec(
            "image_folder", "image_folder", channels=3, image_size=DEFAULT_FOLDER_IMAGE_SIZE, test_fraction=0.2,
        ),
        DatasetSpec(
            "rotated_fashion_mnist", "planted", channels=1, image_size=28, num_classes=10,
            class_names=FASHION_MNIST_CLASSES, planted_from="fashion_mnist", planted_task="rotated", base_flip=True,
        ),
        DatasetSpec(
            "upside_down_fashion_mnist", "planted", channels=1, image_size=28, num_classes=10,
            class_names=_upside_down_names(FASHION_MNIST_CLASSES, FASHION_MNIST_UPSIDE_DOWN_ITEMS),
            planted_from="fashion_mnist", planted_task="upside_down", planted_items=FASHION_MNIST_UPSIDE_DOWN_ITEMS,
            planted_jitter=25.0, base_flip=True,
        ),
        DatasetSpec(
            "rotated_digits", "planted", channels=1, image_size=8, num_classes=10, class_names=DIGIT_CLASSES,
            test_fraction=0.25, planted_from="digits", planted_task="rotated",
        ),
        DatasetSpec(
            "upside_down_digits", "planted", channels=1, image_size=8, num_classes=10,
            class_names=_upside_down_names(DIGIT_CLASSES, DIGITS_UPSIDE_DOWN_ITEMS), test_fraction=0.25,
            planted_from="digits", planted_task="upside_down", planted_items=DIGITS_UPSIDE_DOWN_ITEMS,
            planted_jitter=25.0,
        ),
        DatasetSpec(
            "mirrored_fashion_mnist", "planted", channels=1, image_size=28, num_classes=10,
            class_names=_mirrored_names(
                FASHION_MNIST_CLASSES, FASHION_MNIST_MIRRORED_SYMMETRIC, FASHION_MNIST_MIRRORED_CHIRAL
            ),
            planted_from="fashion_mnist", planted_task="mirrored", planted_items=FASHION_MNIST_MIRRORED_CHIRAL,
            planted_symmetric=FASHION_MNIST_MIRRORED_SYMMETRIC,
        ),
        DatasetSpec(
            "mirrored_digits", "planted", channels=1, image_size=8, num_classes=10,
            class_names=_mirrored_names(DIGIT_CLASSES, DIGITS_MIRRORED_SYMMETRIC, DIGITS_MIRRORED_CHIRAL),
            test_fraction=0.25, planted_from="digits", planted_task="mirrored", planted_items=DIGITS_MIRRORED_CHIRAL,
            planted_symmetric=DIGITS_MIRRORED_SYMMETRIC,
        ),
        DatasetSpec(
            "turned_digits", "planted", channels=1, image_size=8, num_classes=10, class_names=DIGIT_CLASSES,
            test_fraction=0.25, planted_from="digits", planted_task="turned", planted_items=DIGITS_TURNED_ITEMS,
        ),
        DatasetSpec(
            "oriented_digits", "planted", channels=1, image_size=8, num_classes=10,
            class_names=(
                *(DIGIT_CLASSES[item] for item in DIGITS_ORIENTED_TURNED),
                *_upside_down_names(DIGIT_CLASSES, DIGITS_ORIENTED_ITEMS),
            ),
            test_fraction=0.25, planted_from="digits", planted_task="oriented", planted_items=DIGITS_ORIENTED_ITEMS,
            planted_symmetric=DIGITS_ORIENTED_TURNED, planted_jitter=25.0,
        ),
    )
}  # fmt: skip
DATASETS: tuple[str, ...] = tuple(DATASET_SPECS)


def dataset_spec(name: str) -> DatasetSpec:
    """The spec of data set ``name``, one of :data:`DATASETS`."""
    if not isinstance(name, str) or name not in DATASET_SPECS:
        raise ValueError(f"`dataset` should be one of {list(DATASETS)}, but got {name!r} instead.")
    return DATASET_SPECS[name]
