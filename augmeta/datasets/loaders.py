"""Read the data sets :mod:`augmeta.datasets.specs` describes into ``uint8 [N, C, H, W]`` tensors.

:func:`load_dataset` loads a whole data set (train and, where it has one, test split) for training;
:func:`load_image_files` reads a flat folder of images, for a preview. Nothing here downloads unless asked
(:func:`download_dataset`). scikit-learn is imported when the digits are loaded, and a torchvision data set class is
looked up by name when called (so a test can stand in for one).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

from augmeta.datasets import planted
from augmeta.datasets.idx import read_idx
from augmeta.datasets.specs import DIGIT_CLASSES, IDX_FILES, DatasetSpec, dataset_spec

__all__ = [
    "IMAGE_FILE_SUFFIXES",
    "DatasetNotFoundError",
    "ImageFileError",
    "LoadedDataset",
    "download_dataset",
    "find_idx_files",
    "folder_channels",
    "folder_class_names",
    "folder_layout",
    "image_channels",
    "idx_folders",
    "load_dataset",
    "load_digits",
    "load_image_files",
    "missing_message",
    "read_idx_images",
    "read_images",
    "read_rgb_images",
    "torchvision_dataset",
]

IMAGE_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")  # load_image_files


class DatasetNotFoundError(FileNotFoundError):
    """A data set that is not on this machine. The message names the places searched and how to get it."""


class ImageFileError(ValueError):
    """An image file that cannot be read (corrupt, truncated, not an image, or a kind not supported); the message
    names the file and what was expected."""


@dataclass(frozen=True)
class LoadedDataset:
    """One data set as loaded: train and (where the data set has one) test tensors, and the class names.

    Images are ``uint8 [N, C, H, W]`` (values 0..255), labels ``int64 [N]``.
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor | None
    test_labels: torch.Tensor | None
    class_names: tuple[str, ...]


def load_dataset(
    spec: DatasetSpec | str, data_dir: Path | None = None, image_size: int | None = None, channels: int | None = None
) -> LoadedDataset:
    """Load the data set of ``spec`` (a spec or its name) from ``data_dir``; nothing is downloaded.

    Args:
        spec: what to load.
        data_dir: where its files are; not needed for ``digits`` (nor for Fashion-MNIST from its system folder).
        image_size: ``image_folder`` only: the height (= width) every image is resized to; None: the spec's.
        channels: ``image_folder`` only: 1 (grey) or 3 (RGB); None: :func:`folder_channels` reads it from the files.

    Raises:
        DatasetNotFoundError: the files are not there; the message says where it looked and how to get them.
    """
    spec = dataset_spec(spec) if isinstance(spec, str) else spec
    if spec.source == "planted":
        return _load_planted(spec, data_dir)
    if spec.source == "sklearn_digits":
        return load_digits()
    if spec.source == "image_folder":
        return _load_image_folder(data_dir, image_size or spec.image_size, channels)
    files = find_idx_files(spec, data_dir) if spec.idx_folder is not None else None
    return _load_idx(files, spec.class_names) if files is not None else _load_torchvision(spec, data_dir)


def _labels(values: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values), dtype=torch.int64)


# --- scikit-learn's digits -----------------------------------------------------------------------------------------


def load_digits() -> LoadedDataset:
    """scikit-learn's 1,797 digits, 8 x 8, grey levels 0..16 scaled to 0..255: ``uint8 [1797, 1, 8, 8]``, no test
    split."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = torch.from_numpy(np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    return LoadedDataset(images, _labels(digits.target), None, None, DIGIT_CLASSES)


# --- idx files (MNIST, Fashion-MNIST) ------------------------------------------------------------------------------


def idx_folders(spec: DatasetSpec, data_dir: Path | None) -> list[Path]:
    """Where ``spec``'s idx files are looked for, in order: ``data_dir``, torchvision's ``data_dir/<folder>/raw``,
    then the system folder (if any)."""
    folders = [data_dir, data_dir / spec.idx_folder / "raw"] if data_dir is not None else []
    return folders + [spec.system_dir] if spec.system_dir is not None else folders


def find_idx_files(spec: DatasetSpec, data_dir: Path | None) -> list[Path] | None:
    """The four idx files of :data:`IDX_FILES` (``.gz`` or not) from the first folder that has all of them."""
    for folder in idx_folders(spec, data_dir):
        found = [next((p for p in (folder / f"{n}.gz", folder / n) if p.is_file()), None) for n in IDX_FILES]
        if all(found):
            return found
    return None


def read_idx_images(path: str | Path) -> torch.Tensor:
    """The images of an idx file, ``uint8 [N, 1, H, W]``."""
    return torch.from_numpy(read_idx(path).copy()).unsqueeze(1)


def _load_idx(files: Sequence[Path], class_names: tuple[str, ...]) -> LoadedDataset:
    train_images, train_labels, test_images, test_labels = files
    return LoadedDataset(
        read_idx_images(train_images),
        torch.from_numpy(read_idx(train_labels).copy()).long(),
        read_idx_images(test_images),
        torch.from_numpy(read_idx(test_labels).copy()).long(),
        class_names,
    )


# --- torchvision's data set classes --------------------------------------------------------------------------------


def torchvision_dataset(spec: DatasetSpec, root: Path, train: bool, download: bool) -> Any:
    """An instance of ``spec``'s ``torchvision.datasets`` class (looked up now, by name): its train or test split."""
    dataset_class = getattr(torchvision.datasets, spec.torchvision_class)
    if spec.split_keyword == "split":
        return dataset_class(str(root), split="train" if train else "test", download=download)
    return dataset_class(str(root), train=train, download=download)


def download_dataset(spec: DatasetSpec, data_dir: Path) -> None:
    """Download both splits of a torchvision data set into ``data_dir``, unless its idx files are already found."""
    if not spec.downloadable:
        raise ValueError(f"Dataset '{spec.name}' cannot be downloaded (only torchvision's data sets can).")
    if spec.source == "planted":
        download_dataset(dataset_spec(spec.planted_from), data_dir)
        return
    if spec.idx_folder is not None and find_idx_files(spec, data_dir) is not None:
        return
    for train in (True, False):
        torchvision_dataset(spec, data_dir, train, download=True)


def _torchvision_arrays(spec: DatasetSpec, dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``.data`` as ``uint8 [N, C, H, W]`` (MNIST: [N, H, W], CIFAR: [N, H, W, C], SVHN: already NCHW) and labels."""
    images = torch.as_tensor(np.asarray(dataset.data), dtype=torch.uint8)
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2) if spec.channels_last else images
    return images.contiguous(), _labels(getattr(dataset, spec.labels_attribute))


def _load_torchvision(spec: DatasetSpec, data_dir: Path | None) -> LoadedDataset:
    if data_dir is None:
        raise DatasetNotFoundError(missing_message(spec, data_dir))
    try:
        train, test = (torchvision_dataset(spec, data_dir, split, download=False) for split in (True, False))
    except RuntimeError as error:  # torchvision: "Dataset not found or corrupted. You can use download=True ..."
        raise DatasetNotFoundError(missing_message(spec, data_dir)) from error
    class_names = spec.class_names if spec.class_names is not None else tuple(train.classes)
    return LoadedDataset(*_torchvision_arrays(spec, train), *_torchvision_arrays(spec, test), class_names)


# --- folders of images ---------------------------------------------------------------------------------------------


#: PIL modes of 16-bit grey images (PNG, TIFF): their values, 0..65535, are scaled to 0..255, not clipped.
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


#: PIL modes of images without colour: a folder of only these is read as one channel.
GREY_MODES = ("1", "L", "LA", "La", *SIXTEEN_BIT_MODES)


def _as_8_bit(image: Image.Image, channels: int) -> Image.Image:
    """``image`` as 8-bit grey (``channels`` 1) or RGB (3): 16-bit grey scaled down (``convert`` alone clips it to
    255), alpha dropped, colour made grey by PIL's luma."""
    if image.mode in SIXTEEN_BIT_MODES:  # "I" is how PIL opens some 16-bit files: read as 16-bit
        values = np.asarray(image, dtype=np.float64).clip(0, 65535)
        image = Image.fromarray(np.rint(values / 257.0).astype(np.uint8), mode="L")
    elif image.mode == "F":
        raise ValueError("32-bit float images are not read (expected 8- or 16-bit integer images; convert it)")
    return image.convert("L" if channels == 1 else "RGB")


def _unreadable(path: str | Path, error: BaseException) -> ImageFileError:
    reason = str(error) or type(error).__name__
    return ImageFileError(
        f"Cannot read image {str(path)!r}: {reason}. Expected an image file PIL reads (.png, .jpg, ...), whole and "
        "not corrupt."
    )


_READ_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def read_images(
    paths: Iterable[str | Path],
    size: tuple[int, int] | None = None,
    resample: Image.Resampling | None = Image.Resampling.BILINEAR,
    channels: int = 3,
) -> torch.Tensor:
    """Read images with ``channels`` (1: grey, 3: RGB), each resized to ``size`` (width, height) unless it has that
    size: ``uint8 [N, channels, H, W]``.

    ``size`` None: the first image's size. ``resample`` None: PIL's default filter. 16-bit images are scaled to 8
    bits. A file that cannot be read raises :class:`ImageFileError` naming it.
    """
    if channels not in (1, 3):
        raise ValueError(f"`channels` should be 1 or 3, but got {channels!r} instead.")
    arrays = []
    for path in paths:
        try:
            with Image.open(path) as image:
                converted = _as_8_bit(image, channels)
        except _READ_ERRORS as error:
            raise _unreadable(path, error) from None
        size = size or converted.size
        resized = converted if converted.size == size else converted.resize(size, resample)
        array = np.asarray(resized, dtype=np.uint8)
        arrays.append(array[..., None] if channels == 1 else array)
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def read_rgb_images(
    paths: Iterable[str | Path],
    size: tuple[int, int] | None = None,
    resample: Image.Resampling | None = Image.Resampling.BILINEAR,
) -> torch.Tensor:
    """:func:`read_images` as RGB: ``uint8 [N, 3, H, W]``."""
    return read_images(paths, size, resample, channels=3)


def image_channels(paths: Iterable[str | Path]) -> int:
    """1 if every one of the image files is grey (:data:`GREY_MODES`, read from its header only), else 3."""
    for path in paths:
        try:
            with Image.open(path) as image:
                mode = image.mode
        except _READ_ERRORS as error:
            raise _unreadable(path, error) from None
        if mode not in GREY_MODES:
            return 3
    return 1


def load_image_files(folder: Path, count: int) -> torch.Tensor:
    """Up to ``count`` images of ``folder`` (sorted by name, :data:`IMAGE_FILE_SUFFIXES`), RGB, resized to the first
    one's size (PIL's default filter): ``uint8 [N, 3, H, W]``."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_FILE_SUFFIXES)[:count]
    if not paths:
        raise FileNotFoundError(f"No images ({', '.join(IMAGE_FILE_SUFFIXES)}) in {folder}.")
    return read_rgb_images(paths, resample=None)


def folder_class_names(data_dir: Path | None) -> tuple[str, ...]:
    """The class names of an ``image_folder`` data set: its class folders' names, sorted."""
    return tuple(_folder_classes(data_dir)[0])


def folder_layout(data_dir: Path | None) -> tuple[Path, Path | None]:
    """Where an ``image_folder`` data set's training and test class folders are: ``data_dir/train`` and
    ``data_dir/test`` (None if absent), or ``data_dir`` itself and None when it holds the class folders
    (``data_dir/<class>/<image>``, as torchvision's ``ImageFolder`` reads it)."""
    if data_dir is not None and (data_dir / "train").is_dir():
        test = data_dir / "test"
        return data_dir / "train", test if test.is_dir() else None
    if data_dir is not None and data_dir.is_dir() and any(entry.is_dir() for entry in data_dir.iterdir()):
        return data_dir, None
    raise DatasetNotFoundError(missing_message(dataset_spec("image_folder"), data_dir))


def _folder_classes(data_dir: Path | None) -> tuple[list[str], dict[str, int]]:
    train, _ = folder_layout(data_dir)
    try:
        return find_classes(train)
    except FileNotFoundError as error:
        raise DatasetNotFoundError(f"{missing_message(dataset_spec('image_folder'), data_dir)} ({error})") from None


def _files(root: Path, class_to_idx: dict[str, int], allow_empty: bool = False) -> list[tuple[str, int]]:
    try:
        return make_dataset(root, class_to_idx, IMG_EXTENSIONS, allow_empty=allow_empty)
    except FileNotFoundError as error:  # a class folder without images
        raise DatasetNotFoundError(f"{error} Expected images in every class folder of {root}.") from None


def _folder_files(
    data_dir: Path | None,
) -> tuple[list[str], list[tuple[str, int]], list[tuple[str, int]] | None]:
    """An ``image_folder`` data set's class names and its ``(path, label)`` files: training, and test (None without
    a test folder), listed once; a test class the training folder lacks is a ValueError."""
    train_root, test_root = folder_layout(data_dir)
    classes, class_to_idx = _folder_classes(data_dir)
    train = _files(train_root, class_to_idx)
    if test_root is None:
        return classes, train, None
    unknown = sorted(set(find_classes(test_root)[0]) - set(classes))
    if unknown:
        raise ValueError(f"{test_root} should hold only classes of {train_root}, but has {unknown}.")
    return classes, train, _files(test_root, class_to_idx, allow_empty=True)


def folder_channels(data_dir: Path | None) -> int:
    """1 if every image of an ``image_folder`` data set is grey, else 3 (read from the files' headers)."""
    _, train, test = _folder_files(data_dir)
    return image_channels(path for path, _ in train + (test or []))


def _read_labelled_images(
    files: Sequence[tuple[str, int]], image_size: int, channels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    images = read_images((path for path, _ in files), (image_size, image_size), channels=channels)
    return images, _labels([label for _, label in files])


def _load_image_folder(data_dir: Path | None, image_size: int, channels: int | None = None) -> LoadedDataset:
    classes, train_files, test_files = _folder_files(data_dir)
    if channels is None:
        channels = image_channels(path for path, _ in train_files + (test_files or []))
    train = _read_labelled_images(train_files, image_size, channels)
    if test_files is None:
        return LoadedDataset(*train, None, None, tuple(classes))
    return LoadedDataset(*train, *_read_labelled_images(test_files, image_size, channels), tuple(classes))


# --- planted structure ----------------------------------------------------------------------------------------------


def _load_planted(spec: DatasetSpec, data_dir: Path | None) -> LoadedDataset:
    """The base data set with the spec's structure planted in every split (:mod:`augmeta.datasets.planted`)."""
    base = load_dataset(dataset_spec(spec.planted_from), data_dir)

    def plant(images: torch.Tensor, labels: torch.Tensor, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        if spec.planted_task == "rotated":
            return planted.rotated(images, labels, split)
        if spec.planted_task == "mirrored":
            return planted.mirrored(images, labels, split, spec.planted_symmetric, spec.planted_items)
        if spec.planted_task == "turned":
            return planted.turned(images, labels, split, spec.planted_items)
        if spec.planted_task == "oriented":
            return planted.oriented(
                images, labels, split, spec.planted_symmetric, spec.planted_items, spec.planted_jitter
            )
        return planted.upside_down(images, labels, split, spec.planted_items, spec.planted_jitter)

    train = plant(base.train_images, base.train_labels, "train")
    test = (None, None) if base.test_images is None else plant(base.test_images, base.test_labels, "test")
    return LoadedDataset(*train, *test, spec.class_names)


# --- what to say when it is missing --------------------------------------------------------------------------------


def missing_message(spec: DatasetSpec, data_dir: Path | None) -> str:
    """Where ``spec``'s data set was looked for and how to get it."""
    given = f"`data_dir` ({data_dir})" if data_dir is not None else "`data_dir` (not given)"
    if spec.source == "image_folder":
        return (
            f"Dataset '{spec.name}' not found: {given} should hold <class>/<image> folders, or train/<class>/<image> "
            "(and optionally test/<class>/<image>), images in any format PIL reads (.png, .jpg, ...)."
        )
    how = "download it with `--data.download true` (torchvision, on a machine with internet) into `--data.data_dir`"
    if spec.idx_folder is not None:
        folders = ", ".join(str(folder) for folder in idx_folders(spec, data_dir)) or "no folder"
        apt = f"install it with `apt-get install {spec.system_package}`, or " if spec.system_package else ""
        return (
            f"Dataset '{spec.name}' not found: looked for {', '.join(f'{n}.gz' for n in IDX_FILES)} (or unpacked) "
            f"in {folders}, and for torchvision's files under {given}. To get it, {apt}{how}."
        )
    return f"Dataset '{spec.name}' not found: torchvision found no files under {given}. To get it, {how}."
