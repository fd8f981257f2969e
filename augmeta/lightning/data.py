"""Image classification data held in memory as uint8 tensors, split with seeded generators, served a batch at a time.

Every data set is loaded once into ``uint8 [N, C, H, W]`` images (values 0..255) and ``int64 [N]`` labels. The
validation split is held out of the training data (stratified), never out of the test set. A batch is one indexing
of those tensors (:meth:`TensorImages.__getitems__`), so there is no per-image collation; augmentation happens on
the device, later.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from torchvision.transforms.v2 import functional as F

from augmeta.datasets import (
    DATASETS,
    DatasetNotFoundError,
    LoadedDataset,
    dataset_spec,
    download_dataset,
    folder_channels,
    folder_class_names,
    load_dataset,
)

__all__ = [
    "DATASETS",
    "AugDataModule",
    "DatasetNotFoundError",
    "EpochShuffle",
    "TensorImages",
    "dataset_statistics",
    "pass_batch",
    "stratified_split",
]


class TensorImages(Dataset):
    """Images and labels in memory; a whole batch is one indexing (``__getitems__``), not a collation of items.

    Args:
        images: ``uint8 [N, C, H, W]``, values 0..255.
        labels: ``int64 [N]``, class indices.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"`images` should be a uint8 tensor [N, C, H, W], but got {images.dtype} {list(images.shape)} instead."
            )
        if labels.dtype != torch.int64 or labels.shape != images.shape[:1]:
            raise ValueError(
                f"`labels` should be an int64 tensor [{images.shape[0]}], "
                f"but got {labels.dtype} {list(labels.shape)} instead."
            )
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]

    def __getitems__(self, indices: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``uint8 [B, C, H, W]`` images and ``int64 [B]`` labels of the given indices, in one indexing each."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.images[index], self.labels[index]


class EpochShuffle(DistributedSampler):
    """A shuffled order that is a function of ``(seed, epoch, pass)``, so a run resumed at an epoch sees the batches
    the uninterrupted run would have seen; with ``num_replicas`` processes, each takes every ``num_replicas``-th
    index of that order from ``rank`` on (the order padded from its start to a multiple, as ``DistributedSampler``
    does), so the processes share each epoch's order without overlap.

    Lightning calls :meth:`set_epoch` at the start of every epoch; a loader iterated several times within an epoch
    (the cycling "meta" stream) gets a new order on each pass. Being a ``DistributedSampler``, it is used as it is
    under DDP (Lightning would otherwise wrap it in one that never forwards ``set_epoch``).
    """

    def __init__(self, size: int, seed: int, num_replicas: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"`rank` should be in [0, {num_replicas}), but got {rank!r} instead.")
        self.size, self.seed, self.num_replicas, self.rank = size, seed, num_replicas, rank
        self.num_samples = math.ceil(size / num_replicas)
        self.total_size, self.shuffle, self.drop_last = self.num_samples * num_replicas, True, False
        self.epoch, self.passes = 0, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.passes = epoch, 0

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self):
        state = np.random.SeedSequence([self.seed, self.epoch, self.passes]).generate_state(2, np.uint32)
        generator = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
        self.passes += 1
        order = torch.randperm(self.size, generator=generator)
        order = order.repeat(math.ceil(self.total_size / max(1, self.size)))[: self.total_size]
        return iter(order[self.rank : self.total_size : self.num_replicas].tolist())


def pass_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate function for :class:`TensorImages`: the batch is already stacked, so it goes through unchanged."""
    return batch


def dataset_statistics(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and (population) standard deviation of ``uint8 [N, C, H, W]`` images, on the [0, 1] scale.

    Computed exactly from a 256-bin histogram per channel, so it needs no float copy of the images.

    Returns:
        ``(mean, std)``, each ``float32 [C]`` in [0, 1].
    """
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise ValueError(
            f"`images` should be a uint8 tensor [N, C, H, W], but got {images.dtype} {list(images.shape)} instead."
        )
    levels = torch.arange(256, dtype=torch.float64, device=images.device) / 255.0
    counts = torch.stack([torch.bincount(images[:, c].flatten(), minlength=256) for c in range(images.shape[1])])
    counts = counts.to(torch.float64)
    total = counts.sum(dim=1)
    mean = (counts * levels).sum(dim=1) / total
    variance = (counts * (levels - mean[:, None]) ** 2).sum(dim=1) / total
    return mean.to(torch.float32), variance.sqrt().to(torch.float32)


def stratified_split(
    labels: torch.Tensor, count: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose ``count`` indices of ``labels`` at random with each class in proportion (largest remainders).

    Args:
        labels: ``int64 [N]``.
        count: how many to choose, in [0, N].
        generator: source of randomness; the same seed gives the same split.

    Returns:
        ``(rest, chosen)``: sorted ``int64`` indices, ``N - count`` and ``count`` of them, disjoint.
    """
    total = labels.shape[0]
    if not 0 <= count <= total:
        raise ValueError(f"`count` should be in [0, {total}], but got {count} instead.")
    _, per_class = labels.unique(return_counts=True)
    exact = per_class.to(torch.float64) * count / total
    quota = exact.floor().long()
    remainders = torch.argsort(quota - exact, stable=True)  # largest fractional part first, ties by class
    quota[remainders[: count - int(quota.sum())]] += 1
    order = torch.randperm(total, generator=generator)
    by_class = order[torch.argsort(labels[order], stable=True)]  # grouped by class, random within a class
    starts = torch.cumsum(per_class, dim=0) - per_class
    rank_in_class = torch.arange(total) - starts.repeat_interleave(per_class)
    chosen = rank_in_class < quota.repeat_interleave(per_class)
    return by_class[~chosen].sort().values, by_class[chosen].sort().values


# --- the data module ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Splits:
    train: TensorImages
    val: TensorImages
    test: TensorImages
    meta: TensorImages  # what the controller learns from: the validation split, or its own (``meta_size``)
    class_names: tuple[str, ...]


#: The names ``dataset`` takes (the command line lists them).
DatasetName = Literal[DATASETS]


class AugDataModule(pl.LightningDataModule):
    """An image classification data set in memory: train / val (held out of train, stratified) / test splits.

    ``train_dataloader()`` returns ``{"train": ..., "meta": ...}``: the training split and the split a learned policy
    learns from (the validation split, or a split of its own with ``meta_size``), both shuffled; Lightning combines
    them in ``max_size_cycle`` mode, so an epoch ends with the longer of the two and the shorter cycles: one pass over
    "train" while "meta" cycles, unless the meta split has more batches (``train_subset`` below ``val_size``: reduced
    Fashion-MNIST's 4,000 training images against 6,000 held out make 46-batch epochs of 1.5 passes over "train").
    Every method loads both streams, so every method trains the same steps. Batches are ``(uint8 [B, C, H, W] images
    in 0..255, int64 [B] labels)``.

    Args:
        dataset: a name of ``DATASETS``: digits, fashion_mnist, mnist, cifar10, cifar100, svhn, image_folder, or a
            planted task (rotated_digits, upside_down_digits, mirrored_digits, turned_digits, oriented_digits,
            rotated_fashion_mnist, upside_down_fashion_mnist, mirrored_fashion_mnist).
        data_dir: where the files are (or go, with ``download``); not needed for ``digits``.
        batch_size: images per batch, for every loader.
        val_size: the validation split, held out of the training data: a fraction in (0, 1) or a count (int).
        train_subset: keep only this many training images (after the validation split), stratified; None keeps all.
        seed: seeds the test hold-out (where the data set has no test split), the validation split, the subset, the
            meta split and the shuffling; the same seed gives the same splits and batches.
        image_size: resize every image to ``image_size x image_size`` (bilinear, antialiased); None keeps the data
            set's own size (``image_folder``: 32).
        download: let ``prepare_data`` download a missing torchvision data set (needs internet and ``data_dir``).
        num_workers: DataLoader worker processes.
        channels: ``image_folder`` only: 1 (grey) or 3 (RGB); None: read from the files (1 if all are grey).
        meta_size: None (default): the controller learns from the validation split, so a joint run's ``val_*``
            metrics are measured on data its policy was fitted to. A fraction of the training data in (0, 1) or a
            count (int): a split of its own for the controller, held out like the validation split and disjoint
            from it, so ``val_*`` stays held out from everything the run learns. With ``train_subset`` it comes
            from the training images the subset leaves out (the subset is the same as without it); otherwise the
            training split gives it up.
    """

    def __init__(
        self,
        dataset: DatasetName = "digits",
        data_dir: str | None = None,
        batch_size: int = 128,
        val_size: int | float = 0.1,
        train_subset: int | None = None,
        seed: int = 0,
        image_size: int | None = None,
        download: bool = False,
        num_workers: int = 0,
        meta_size: int | float | None = None,
        channels: int | None = None,
    ) -> None:
        super().__init__()
        _check_arguments(locals())
        self.save_hyperparameters()
        self.dataset, self.spec = dataset, dataset_spec(dataset)
        self.data_dir = Path(data_dir).expanduser() if data_dir is not None else None
        self.batch_size, self.val_size, self.train_subset = batch_size, val_size, train_subset
        self.meta_size = meta_size
        self.seed, self.resize_to, self.download, self.num_workers = seed, image_size, download, num_workers
        self.channels = channels
        self._splits: _Splits | None = None

    # -- shapes: known before setup --

    @property
    def num_classes(self) -> int:
        count = self.spec.num_classes
        return count if count is not None else len(self.class_names)

    @property
    def in_channels(self) -> int:
        """The images' channels: the data set's; an image folder's from ``channels`` or its files (1 if all are
        grey, else 3), read once."""
        if self.spec.source != "image_folder":
            return self.spec.channels
        if self.channels is None:
            self.channels = folder_channels(self.data_dir)
        return self.channels

    @property
    def base_flip(self) -> bool:
        """The data set's flip convention for fixed-policy runs (:attr:`augmeta.datasets.DatasetSpec.base_flip`)."""
        return self.spec.base_flip

    @property
    def image_size(self) -> int:
        """Height (= width) of the images served."""
        return self.resize_to if self.resize_to is not None else self.spec.image_size

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names by label; CIFAR's are read from its files, so they need ``setup()`` first."""
        if self._splits is not None:
            return self._splits.class_names
        if self.spec.source == "image_folder":
            return folder_class_names(self.data_dir)
        if self.spec.class_names_from_files:
            raise RuntimeError(f"The class names of '{self.dataset}' are read from its files; call setup() first.")
        return self.spec.class_names

    # -- the splits: after setup --

    def _ready_splits(self) -> _Splits:
        if self._splits is None:
            raise RuntimeError("AugDataModule's splits exist after setup(); call setup() first.")
        return self._splits

    train_images = property(lambda self: self._ready_splits().train.images, doc="uint8 [N, C, H, W] in 0..255")
    train_labels = property(lambda self: self._ready_splits().train.labels, doc="int64 [N]")
    val_images = property(lambda self: self._ready_splits().val.images, doc="uint8 [N, C, H, W] in 0..255")
    val_labels = property(lambda self: self._ready_splits().val.labels, doc="int64 [N]")
    test_images = property(lambda self: self._ready_splits().test.images, doc="uint8 [N, C, H, W] in 0..255")
    test_labels = property(lambda self: self._ready_splits().test.labels, doc="int64 [N]")
    meta_images = property(
        lambda self: self._ready_splits().meta.images,
        doc="uint8 [N, C, H, W]: what a learned policy learns from (the validation split unless ``meta_size``)",
    )
    meta_labels = property(lambda self: self._ready_splits().meta.labels, doc="int64 [N]")

    # -- Lightning hooks --

    def prepare_data(self) -> None:
        """Download the data set where ``download=True`` and it is not on this machine yet (one process only)."""
        if self.download and self.spec.downloadable:
            download_dataset(self.spec, self.data_dir)

    def setup(self, stage: str | None = None) -> None:
        """Load the data set and split it, once: later calls (one per stage) keep the splits."""
        if self._splits is None:
            channels = self.in_channels if self.spec.source == "image_folder" else None
            source = load_dataset(self.spec, self.data_dir, self.resize_to, channels)
            train, val, test, meta = self._split(source, torch.Generator().manual_seed(self.seed))
            val_resized = self._resized(val)
            meta_resized = val_resized if meta is val else self._resized(meta)
            self._splits = _Splits(
                self._resized(train), val_resized, self._resized(test), meta_resized, source.class_names
            )

    def _split(self, source: LoadedDataset, generator: torch.Generator) -> tuple[TensorImages, ...]:
        """(train, val, test, meta) splits; ``meta`` is ``val`` itself unless ``meta_size``."""
        images, labels = source.train_images, source.train_labels
        if source.test_images is None:
            rest, held = stratified_split(labels, round(self.spec.test_fraction * len(labels)), generator)
            test = TensorImages(images[held], labels[held])
            images, labels = images[rest], labels[rest]
        else:
            test = TensorImages(source.test_images, source.test_labels)
        total = len(labels)
        rest, held = stratified_split(labels, _validation_count(self.val_size, total), generator)
        val = TensorImages(images[held], labels[held])
        images, labels = images[rest], labels[rest]
        if self.train_subset is not None and self.train_subset > len(labels):
            raise ValueError(
                f"`train_subset` should be at most the {len(labels)} training images left after the validation "
                f"split, but got {self.train_subset} instead."
            )
        left = None  # the training images the subset leaves out: where a meta split comes from then
        if self.train_subset is not None:
            left_out, kept = stratified_split(labels, self.train_subset, generator)
            left = TensorImages(images[left_out], labels[left_out]) if self.meta_size is not None else None
            images, labels = images[kept], labels[kept]
        if self.meta_size is None:
            return TensorImages(images, labels), val, test, val
        if left is not None:
            count = _meta_count(self.meta_size, total, len(left), "the images `train_subset` leaves out", strict=False)
            _, held = stratified_split(left.labels, count, generator)
            return TensorImages(images, labels), val, test, TensorImages(left.images[held], left.labels[held])
        count = _meta_count(self.meta_size, total, len(labels), "the training images after the validation split")
        rest, held = stratified_split(labels, count, generator)
        return TensorImages(images[rest], labels[rest]), val, test, TensorImages(images[held], labels[held])

    def _resized(self, split: TensorImages) -> TensorImages:
        size = self.resize_to
        if size is None or split.images.shape[-2:] == (size, size):
            return split
        return TensorImages(F.resize(split.images, [size, size], antialias=True), split.labels)

    def train_dataloader(self) -> dict[str, DataLoader]:
        """``{"train": shuffled training split, "meta": the shuffled split a learned policy learns from}`` (the
        validation split unless ``meta_size``), for ``max_size_cycle``."""
        splits = self._ready_splits()
        return {"train": self._loader(splits.train, stream=0), "meta": self._loader(splits.meta, stream=1)}

    def meta_dataloader(self) -> DataLoader:
        """The split a learned policy learns from, in order (held-out trials score on all of it once)."""
        return self._loader(self._ready_splits().meta, stream=None)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self._ready_splits().val, stream=None)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self._ready_splits().test, stream=None)

    def _loader(self, split: TensorImages, stream: int | None) -> DataLoader:
        """A loader over ``split``, shuffled per epoch from ``seed + stream`` (:class:`EpochShuffle`, this process's
        share of it under DDP), or in order (Lightning shares it out under DDP)."""
        shuffle = stream is not None
        trainer = getattr(self, "trainer", None)
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        sampler = EpochShuffle(len(split), self.seed + stream, replicas, rank) if shuffle else None
        return DataLoader(
            split,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=shuffle and len(sampler) >= self.batch_size,
            # its own generator (for the workers' seeds), so iterating never draws from the global RNG
            generator=torch.Generator().manual_seed(self.seed + (stream or 0)),
            collate_fn=pass_batch,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )


def _image_count(size: int | float, total: int) -> int:
    """A split's size as given (a count) or as a fraction of ``total`` images."""
    return size if isinstance(size, int) else round(size * total)


def _validation_count(val_size: int | float, total: int) -> int:
    count = _image_count(val_size, total)
    if not 1 <= count < total:
        raise ValueError(
            f"`val_size` should leave at least one image on each side of the split of {total} training images, "
            f"but got {val_size!r} ({count} images) instead."
        )
    return count


def _meta_count(meta_size: int | float, total: int, available: int, source: str, strict: bool = True) -> int:
    """The meta split's image count (a fraction of ``total``), out of ``available``; ``strict``: one must stay."""
    count = _image_count(meta_size, total)
    largest = available - 1 if strict else available
    if not 1 <= count <= largest:
        raise ValueError(
            f"`meta_size` should make a split of 1 to {largest} images ({source}: {available}), but got "
            f"{meta_size!r} ({count} images) instead."
        )
    return count


def _check_arguments(arguments: dict[str, Any]) -> None:
    """Check the constructor's arguments; the sizes that depend on the data are checked in ``setup``."""
    dataset, data_dir, download, val_size = (arguments[k] for k in ("dataset", "data_dir", "download", "val_size"))
    spec = dataset_spec(dataset)  # an unknown name: ValueError
    if data_dir is None and (spec.source == "image_folder" or download):
        raise ValueError(f"`data_dir` should be a directory for '{dataset}' (download={download}), but got None.")
    channels = arguments.get("channels")
    if channels is not None and (spec.source != "image_folder" or channels not in (1, 3)):
        raise ValueError(
            f"`channels` should be None, or 1 or 3 for 'image_folder' (other data sets have their own), but got "
            f"{channels!r} for '{dataset}' instead."
        )
    for name, optional in (("val_size", False), ("meta_size", True)):
        value = arguments[name]
        fraction = isinstance(value, float) and 0.0 < value < 1.0
        count = type(value) is int and value >= 1
        if not (fraction or count or (optional and value is None)):
            expected = "a fraction in (0, 1) or a count (int >= 1)" + (" or None" if optional else "")
            raise ValueError(f"`{name}` should be {expected}, but got {value!r} instead.")
    for name, least, optional in (("batch_size", 1, False), ("train_subset", 1, True), ("image_size", 1, True),
                                  ("seed", 0, False), ("num_workers", 0, False)):  # fmt: skip
        value = arguments[name]
        if not (optional and value is None) and (type(value) is not int or value < least):
            expected = f"an int >= {least}" + (" or None" if optional else "")
            raise ValueError(f"`{name}` should be {expected}, but got {value!r} instead.")
