"""Image classification data sets: what each one is (:mod:`~augmeta.datasets.specs`) and how its files are read
(:mod:`~augmeta.datasets.loaders`), shared by the Lightning data module and ``augmeta show``.

Imports torch, torchvision, numpy and PIL (scikit-learn when the digits are loaded), and nothing of augmeta above
:mod:`augmeta.utils`: :mod:`augmeta.export` imports it as well as :mod:`augmeta.lightning`.
"""

from augmeta.datasets.idx import read_idx
from augmeta.datasets.loaders import (
    IMAGE_FILE_SUFFIXES,
    DatasetNotFoundError,
    ImageFileError,
    LoadedDataset,
    download_dataset,
    find_idx_files,
    folder_channels,
    folder_class_names,
    folder_layout,
    idx_folders,
    image_channels,
    load_dataset,
    load_digits,
    load_image_files,
    missing_message,
    read_idx_images,
    read_images,
    read_rgb_images,
    torchvision_dataset,
)
from augmeta.datasets.specs import (
    DATASET_SPECS,
    DATASETS,
    DEFAULT_FOLDER_IMAGE_SIZE,
    DIGIT_CLASSES,
    FASHION_MNIST_CLASSES,
    IDX_FILES,
    SYSTEM_FASHION_MNIST_DIR,
    DatasetSource,
    DatasetSpec,
    dataset_spec,
)

__all__ = [
    "DATASETS",
    "DATASET_SPECS",
    "DEFAULT_FOLDER_IMAGE_SIZE",
    "DIGIT_CLASSES",
    "FASHION_MNIST_CLASSES",
    "IDX_FILES",
    "IMAGE_FILE_SUFFIXES",
    "SYSTEM_FASHION_MNIST_DIR",
    "DatasetNotFoundError",
    "ImageFileError",
    "DatasetSource",
    "DatasetSpec",
    "LoadedDataset",
    "dataset_spec",
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
    "read_idx",
    "read_idx_images",
    "read_images",
    "read_rgb_images",
    "torchvision_dataset",
]
