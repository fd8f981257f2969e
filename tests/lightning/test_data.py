"""The data module: loading every kind of data set, seeded stratified splits, batch loaders, clear errors."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torchvision
from PIL import Image
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader

from augmeta.datasets import SYSTEM_FASHION_MNIST_DIR
from augmeta.lightning.data import (
    AugDataModule,
    DatasetNotFoundError,
    EpochShuffle,
    TensorImages,
    dataset_statistics,
    pass_batch,
    stratified_split,
)
from tests.datasets.helpers import move_system_fashion_mnist, write_fake_mnist

DIGITS, DIGITS_TEST = 1797, 449  # load_digits size, and its 25% held-out test split


def exactly(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern that matches the whole message and nothing else."""
    return f"^{re.escape(message)}$"


def rows(images: torch.Tensor, labels: torch.Tensor) -> list[bytes]:
    """Each (image, label) as bytes, sorted: two splits hold the same images when their rows are equal."""
    return sorted(
        image.numpy().tobytes() + bytes([label]) for image, label in zip(images, labels.tolist(), strict=True)
    )


def digits_module(**arguments) -> AugDataModule:
    module = AugDataModule(**arguments)
    module.setup("fit")
    return module


class TestStratifiedSplit:
    def test_partitions_in_proportion(self):
        labels = torch.arange(10).repeat_interleave(torch.arange(10, 110, 10))  # class k has 10 (k + 1) labels
        rest, chosen = stratified_split(labels, 55, torch.Generator().manual_seed(0))
        assert len(chosen) == 55 and len(rest) == len(labels) - 55
        assert torch.equal(torch.cat([rest, chosen]).sort().values, torch.arange(len(labels)))
        assert torch.equal(torch.bincount(labels[chosen]), torch.arange(1, 11))

    def test_same_seed_same_split(self):
        labels = torch.randint(0, 5, (300,), generator=torch.Generator().manual_seed(1))
        first, second, other = (stratified_split(labels, 40, torch.Generator().manual_seed(s))[1] for s in (3, 3, 4))
        assert torch.equal(first, second) and not torch.equal(first, other)

    def test_count_out_of_range(self):
        with pytest.raises(ValueError, match=exactly("`count` should be in [0, 3], but got 4 instead.")):
            stratified_split(torch.zeros(3, dtype=torch.long), 4)


class TestDigits:
    def test_shapes_and_classes(self):
        module = AugDataModule(val_size=0.1)
        assert (module.num_classes, module.in_channels, module.image_size) == (10, 1, 8)  # known before setup
        module.setup("fit")
        assert module.class_names == tuple("0123456789")
        assert module.train_images.dtype == torch.uint8 and module.train_labels.dtype == torch.int64
        assert module.test_images.shape == (DIGITS_TEST, 1, 8, 8)
        assert module.val_images.shape == (135, 1, 8, 8)  # round(0.1 * 1348)
        assert module.train_images.shape == (DIGITS - DIGITS_TEST - 135, 1, 8, 8)
        assert module.train_images.max() == 255 and module.train_images.min() == 0

    def test_splits_partition_the_data(self):
        module = digits_module()
        digits = load_digits()
        images = torch.from_numpy(np.round(digits.images * 255 / 16).astype(np.uint8)).unsqueeze(1)
        every = [
            torch.cat([getattr(module, f"{s}_{kind}") for s in ("train", "val", "test")])
            for kind in ("images", "labels")
        ]
        assert rows(*every) == rows(images, torch.from_numpy(digits.target))

    def test_splits_are_stratified(self):
        module = digits_module(val_size=0.2)
        for labels, fraction in ((module.val_labels, 0.2 * 0.75), (module.test_labels, 0.25)):
            expected = torch.bincount(torch.from_numpy(load_digits().target)) * fraction
            assert (torch.bincount(labels, minlength=10) - expected).abs().max() <= 1.5

    def test_same_seed_same_splits(self):
        first, second, other = digits_module(seed=5), digits_module(seed=5), digits_module(seed=6)
        for name in ("train_labels", "val_images", "test_images"):
            assert torch.equal(getattr(first, name), getattr(second, name))
            assert not torch.equal(getattr(first, name), getattr(other, name))

    @pytest.mark.parametrize(("val_size", "expected"), [(100, 100), (0.2, 270), (1, 1)])
    def test_val_size_as_count_or_fraction(self, val_size, expected):
        module = digits_module(val_size=val_size)
        assert len(module.val_labels) == expected and len(module.train_labels) == DIGITS - DIGITS_TEST - expected

    def test_train_subset_is_a_stratified_part_of_the_train_split(self):
        full, subset = digits_module(seed=2), digits_module(seed=2, train_subset=200)
        assert torch.equal(full.val_images, subset.val_images) and torch.equal(full.test_images, subset.test_images)
        assert len(subset.train_labels) == 200 and torch.bincount(subset.train_labels).tolist() == [20] * 10
        assert set(rows(subset.train_images, subset.train_labels)) <= set(rows(full.train_images, full.train_labels))

    def test_image_size_resizes(self):
        module = digits_module(image_size=32)
        assert module.image_size == 32 and module.train_images.shape[1:] == (1, 32, 32)
        assert module.test_images.shape[1:] == (1, 32, 32) and module.train_images.dtype == torch.uint8

    def test_hyperparameters_are_the_arguments(self):
        module = AugDataModule(batch_size=16, val_size=50, seed=3)
        assert dict(module.hparams) == {
            "dataset": "digits", "data_dir": None, "batch_size": 16, "val_size": 50, "train_subset": None,
            "seed": 3, "image_size": None, "download": False, "num_workers": 0, "meta_size": None, "channels": None,
        }  # fmt: skip

    def test_splits_before_setup(self):
        with pytest.raises(
            RuntimeError, match=exactly("AugDataModule's splits exist after setup(); call setup() first.")
        ):
            _ = AugDataModule().train_images


class TestMetaSplit:
    """``meta_size``: a split of its own for the controller, so the validation split stays held out."""

    def test_by_default_the_controller_learns_from_the_validation_split(self):
        module = digits_module(seed=1)
        assert module.meta_images is module.val_images and module.meta_labels is module.val_labels

    def test_with_a_subset_it_comes_from_the_images_the_subset_leaves_out(self):
        without, module = (
            digits_module(seed=2, train_subset=200),
            digits_module(seed=2, train_subset=200, meta_size=300),
        )
        for name in ("train_images", "train_labels", "val_images", "test_images"):
            assert torch.equal(getattr(without, name), getattr(module, name))  # the same run for a fixed policy
        assert len(module.meta_labels) == 300 and (torch.bincount(module.meta_labels) - 30).abs().max() <= 1
        meta = set(rows(module.meta_images, module.meta_labels))
        full = digits_module(seed=2)
        assert meta <= set(rows(full.train_images, full.train_labels))  # out of the training data...
        assert not meta & set(rows(module.train_images, module.train_labels))  # ... but not the subset
        assert not meta & set(rows(module.val_images, module.val_labels))

    @pytest.mark.parametrize(("meta_size", "expected"), [(100, 100), (0.1, 135)])
    def test_without_a_subset_the_training_split_gives_it_up(self, meta_size, expected):
        module, full = digits_module(seed=3, meta_size=meta_size), digits_module(seed=3)
        assert len(module.meta_labels) == expected  # a fraction of the training data, as val_size
        assert len(module.train_labels) == len(full.train_labels) - expected
        assert torch.equal(module.val_images, full.val_images) and torch.equal(module.test_images, full.test_images)
        images = torch.cat([module.train_images, module.meta_images])
        labels = torch.cat([module.train_labels, module.meta_labels])
        assert rows(images, labels) == rows(full.train_images, full.train_labels)  # a partition of the training split

    def test_the_meta_loader_serves_the_meta_split(self):
        module = digits_module(batch_size=50, train_subset=200, meta_size=300)
        loader = module.train_dataloader()["meta"]
        assert len(loader) == 6
        served = [torch.cat(parts) for parts in zip(*loader, strict=True)]
        assert rows(*served) == rows(module.meta_images, module.meta_labels)
        assert not set(rows(*served)) & set(rows(module.val_images, module.val_labels))

    @pytest.mark.parametrize("meta_size", [0, 1.0, -3, True, "100"])
    def test_bad_meta_size(self, meta_size):
        message = (
            f"`meta_size` should be a fraction in (0, 1) or a count (int >= 1) or None, but got {meta_size!r} instead."
        )
        with pytest.raises(ValueError, match=exactly(message)):
            AugDataModule(meta_size=meta_size)

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            ({"meta_size": 1213}, "1 to 1212 images (the training images after the validation split: 1213), but "
                                  "got 1213 (1213 images)"),
            ({"meta_size": 0.0001}, "1 to 1212 images (the training images after the validation split: 1213), but "
                                    "got 0.0001 (0 images)"),
            ({"meta_size": 1014, "train_subset": 200}, "1 to 1013 images (the images `train_subset` leaves out: "
                                                       "1013), but got 1014 (1014 images)"),
        ],
    )  # fmt: skip
    def test_meta_size_too_large_for_the_data(self, arguments, message):
        with pytest.raises(ValueError, match=exactly(f"`meta_size` should make a split of {message} instead.")):
            digits_module(**arguments)


class TestArguments:
    @pytest.mark.parametrize("val_size", [0, 1.0, 1.5, -0.1, True, "0.1"])
    def test_bad_val_size(self, val_size):
        message = f"`val_size` should be a fraction in (0, 1) or a count (int >= 1), but got {val_size!r} instead."
        with pytest.raises(ValueError, match=exactly(message)):
            AugDataModule(val_size=val_size)

    def test_val_size_too_large_for_the_data(self):
        message = (
            "`val_size` should leave at least one image on each side of the split of 1348 training images, "
            "but got 1348 (1348 images) instead."
        )
        with pytest.raises(ValueError, match=exactly(message)):
            digits_module(val_size=1348)

    @pytest.mark.parametrize(("name", "value"), [("train_subset", 0), ("batch_size", 0), ("image_size", 2.5)])
    def test_bad_sizes(self, name, value):
        expected = "an int >= 1" + (" or None" if name != "batch_size" else "")
        with pytest.raises(ValueError, match=exactly(f"`{name}` should be {expected}, but got {value!r} instead.")):
            AugDataModule(**{name: value})

    def test_train_subset_too_large(self):
        message = (
            "`train_subset` should be at most the 1213 training images left after the validation split, "
            "but got 1214 instead."
        )
        with pytest.raises(ValueError, match=exactly(message)):
            digits_module(train_subset=1214)

    def test_unknown_dataset(self):
        message = (
            "`dataset` should be one of ['digits', 'fashion_mnist', 'mnist', 'cifar10', 'cifar100', 'svhn', "
            "'image_folder', 'rotated_fashion_mnist', 'upside_down_fashion_mnist', 'rotated_digits', "
            "'upside_down_digits', 'mirrored_fashion_mnist', 'mirrored_digits', 'turned_digits', 'oriented_digits'], "
            "but got 'imagenet' instead."
        )
        with pytest.raises(ValueError, match=exactly(message)):
            AugDataModule("imagenet")

    def test_download_needs_a_directory(self):
        message = "`data_dir` should be a directory for 'cifar10' (download=True), but got None."
        with pytest.raises(ValueError, match=exactly(message)):
            AugDataModule("cifar10", download=True)


class TestLoaders:
    def test_getitems_fetches_a_batch(self):
        images = torch.arange(5 * 12, dtype=torch.uint8).view(5, 1, 3, 4)
        dataset = TensorImages(images, torch.arange(5) * 10)
        batch_images, batch_labels = dataset.__getitems__([4, 0, 2])
        assert torch.equal(batch_images, images[[4, 0, 2]]) and batch_labels.tolist() == [40, 0, 20]
        assert len(dataset) == 5 and dataset[1][1] == 10
        loader = DataLoader(dataset, batch_size=2, collate_fn=pass_batch)
        assert [labels.tolist() for _, labels in loader] == [[0, 10], [20, 30], [40]]
        assert pickle.loads(pickle.dumps(pass_batch)) is pass_batch
        assert torch.equal(pickle.loads(pickle.dumps(dataset)).images, images)  # workers can receive it

    def test_tensor_images_checks_dtypes(self):
        message = "`images` should be a uint8 tensor [N, C, H, W], but got torch.float32 [2, 1, 3, 3] instead."
        with pytest.raises(ValueError, match=exactly(message)):
            TensorImages(torch.zeros(2, 1, 3, 3), torch.zeros(2, dtype=torch.long))

    def test_train_loaders_are_a_dict(self):
        module = digits_module(batch_size=100)
        loaders = module.train_dataloader()
        assert set(loaders) == {"train", "meta"}
        assert len(loaders["train"]) == 1213 // 100 and len(loaders["meta"]) == 1  # drop_last: 135 val images
        images, labels = next(iter(loaders["meta"]))
        assert images.shape == (100, 1, 8, 8) and labels.dtype == torch.int64
        assert not torch.equal(labels, module.val_labels[:100])  # shuffled

    def test_small_split_keeps_its_last_batch(self):
        loaders = digits_module(batch_size=200).train_dataloader()
        assert len(loaders["meta"]) == 1 and len(next(iter(loaders["meta"]))[1]) == 135

    def test_shuffling_is_seeded(self):
        first, second = (digits_module(seed=7).train_dataloader()["train"] for _ in range(2))
        assert all(torch.equal(a[1], b[1]) for a, b in zip(first, second, strict=True))

    def test_the_order_depends_on_the_epoch_and_the_pass_only(self):
        sampler = EpochShuffle(50, seed=3)
        first, again = list(sampler), list(sampler)  # two passes within epoch 0 (the cycling meta stream)
        assert sorted(first) == list(range(50)) and first != again
        sampler.set_epoch(1)
        epoch_one = list(sampler)
        assert epoch_one not in (first, again)
        resumed = EpochShuffle(50, seed=3)
        resumed.set_epoch(1)  # what Lightning does at the start of a resumed epoch
        assert list(resumed) == epoch_one
        resumed.set_epoch(0)
        assert list(resumed) == first
        assert list(EpochShuffle(50, seed=4)) != first

    @pytest.mark.parametrize("size", [50, 51, 1])
    def test_processes_share_the_order_without_overlap(self, size):
        whole = list(EpochShuffle(size, seed=3))
        shares = [EpochShuffle(size, seed=3, num_replicas=3, rank=rank) for rank in range(3)]
        assert all(len(share) == -(-size // 3) for share in shares)
        padded = (whole * 3)[: 3 * len(shares[0])]
        assert [index for group in zip(*map(list, shares), strict=True) for index in group] == padded
        assert set().union(*map(set, map(list, shares))) == set(range(size))

    def test_it_is_a_distributed_sampler_so_lightning_keeps_it(self):
        assert isinstance(EpochShuffle(5, seed=0), torch.utils.data.DistributedSampler)
        with pytest.raises(ValueError, match=r"^`rank` should be in \[0, 2\), but got 2 instead\.$"):
            EpochShuffle(5, seed=0, num_replicas=2, rank=2)

    def test_val_and_test_loaders_keep_the_order(self):
        module = digits_module(batch_size=64)
        assert torch.equal(torch.cat([labels for _, labels in module.val_dataloader()]), module.val_labels)
        assert torch.equal(torch.cat([images for images, _ in module.test_dataloader()]), module.test_images)

    @pytest.mark.filterwarnings(
        r"ignore:`isinstance\(treespec, LeafSpec\)` is deprecated:FutureWarning"
    )  # PL 2.6 + torch 2.14
    def test_lightning_cycles_the_meta_loader(self):
        class Recorder(pl.LightningModule):
            def __init__(self) -> None:
                super().__init__()
                self.weight = torch.nn.Parameter(torch.zeros(1))
                self.seen: list[tuple[int, int]] = []
                self.validated = 0

            def training_step(self, batch, batch_idx):
                self.seen.append((len(batch["train"][1]), len(batch["meta"][1])))
                return (self.weight - batch["train"][0].float().mean()).square()

            def validation_step(self, batch, batch_idx):
                self.validated += len(batch[1])

            def configure_optimizers(self):
                return torch.optim.SGD(self.parameters(), lr=0.1)

        model = Recorder()
        trainer = pl.Trainer(
            max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, num_sanity_val_steps=0,
        )  # fmt: skip
        trainer.fit(model, datamodule=AugDataModule(batch_size=100))
        assert model.seen == [(100, 100)] * 12  # 12 train batches; the one meta batch cycles
        assert model.validated == 135  # the whole validation split, last batch kept


class TestIdx:
    @pytest.mark.parametrize(
        ("layout", "compress"), [(".", True), ("FashionMNIST/raw", True), ("FashionMNIST/raw", False)]
    )
    def test_fashion_mnist_from_idx_files(self, tmp_path, monkeypatch, layout, compress):
        move_system_fashion_mnist(monkeypatch, tmp_path / "not-installed")
        arrays = write_fake_mnist(tmp_path / layout, compress)
        module = AugDataModule("fashion_mnist", data_dir=str(tmp_path), val_size=10, batch_size=8)
        module.setup("fit")
        assert module.train_images.shape == (30, 1, 28, 28) and module.val_images.shape == (10, 1, 28, 28)
        assert torch.equal(
            module.test_images[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte"].astype(np.uint8))
        )
        assert module.class_names[0] == "T-shirt/top" and module.num_classes == 10
        train = rows(
            torch.cat([module.train_images, module.val_images]), torch.cat([module.train_labels, module.val_labels])
        )
        expected = torch.from_numpy(arrays["train-images-idx3-ubyte"].astype(np.uint8)).unsqueeze(1)
        assert train == rows(expected, torch.from_numpy(arrays["train-labels-idx1-ubyte"]))

    def test_missing_fashion_mnist(self, tmp_path, monkeypatch):
        move_system_fashion_mnist(monkeypatch, tmp_path / "system")
        module = AugDataModule("fashion_mnist", data_dir=str(tmp_path / "data"))
        message = (
            "Dataset 'fashion_mnist' not found: looked for train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (or unpacked) in "
            f"{tmp_path}/data, {tmp_path}/data/FashionMNIST/raw, {tmp_path}/system, and for torchvision's files under "
            f"`data_dir` ({tmp_path}/data). To get it, install it with `apt-get install dataset-fashion-mnist`, or "
            "download it with `--data.download true` (torchvision, on a machine with internet) into `--data.data_dir`."
        )
        with pytest.raises(DatasetNotFoundError, match=exactly(message)):
            module.setup("fit")

    @pytest.mark.skipif(not SYSTEM_FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
    def test_installed_fashion_mnist(self):
        module = AugDataModule("fashion_mnist", val_size=5000)
        module.setup("fit")
        assert module.train_images.shape == (55000, 1, 28, 28) and module.val_images.shape == (5000, 1, 28, 28)
        assert module.test_images.shape == (10000, 1, 28, 28) and module.test_labels.shape == (10000,)
        assert torch.bincount(module.test_labels).tolist() == [1000] * 10
        assert torch.bincount(module.val_labels).tolist() == [500] * 10


def write_png(path: Path, colour: tuple[int, ...], size: tuple[int, int], mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)


class TestImageFolder:
    def make_tree(self, root: Path, with_test: bool) -> None:
        for k in range(5):
            write_png(root / "train" / "cat" / f"{k}.png", (255, 0, 0), (20 + k, 10), "RGB")
            write_png(root / "train" / "dog" / f"{k}.png", (128,), (7, 9), "L")
        (root / "train" / "dog" / "notes.txt").write_text("not an image")
        if with_test:
            write_png(root / "test" / "dog" / "0.png", (0, 0, 255, 255), (40, 40), "RGBA")

    def test_train_and_test_folders(self, tmp_path):
        self.make_tree(tmp_path, with_test=True)
        module = AugDataModule("image_folder", data_dir=str(tmp_path), val_size=2, image_size=16)
        assert module.class_names == ("cat", "dog") and module.num_classes == 2 and module.image_size == 16
        module.setup("fit")
        assert module.train_images.shape == (8, 3, 16, 16) and torch.bincount(module.val_labels).tolist() == [1, 1]
        assert module.test_labels.tolist() == [1] and module.test_images[0, :, 8, 8].tolist() == [0, 0, 255]
        cats = torch.cat([module.train_images[module.train_labels == 0], module.val_images[module.val_labels == 0]])
        assert (cats[:, 0] == 255).all() and (cats[:, 1:] == 0).all()
        assert (module.train_images[module.train_labels == 1] == 128).all()  # grey -> RGB

    def test_without_test_folder_holds_out_a_fifth(self, tmp_path):
        self.make_tree(tmp_path, with_test=False)
        module = AugDataModule("image_folder", data_dir=str(tmp_path), val_size=2)
        module.setup("fit")
        assert torch.bincount(module.test_labels).tolist() == [1, 1] and len(module.train_labels) == 6
        assert module.image_size == 32 and module.train_images.shape[1:] == (3, 32, 32)

    def test_missing_folder(self, tmp_path):
        module = AugDataModule("image_folder", data_dir=str(tmp_path))
        message = (
            f"Dataset 'image_folder' not found: `data_dir` ({tmp_path}) should hold <class>/<image> folders, or "
            "train/<class>/<image> (and optionally test/<class>/<image>), images in any format PIL reads (.png, .jpg, "
            "...)."
        )
        with pytest.raises(DatasetNotFoundError, match=exactly(message)):
            module.setup("fit")


class FakeTorchvision:
    """Stands in for a torchvision data set class: records its calls, holds small ``.data`` arrays."""

    calls: list[tuple[str, object, bool]] = []

    def __init__(self, root: str, train: bool = True, split: str | None = None, download: bool = False) -> None:
        which = split if split is not None else train
        FakeTorchvision.calls.append((root, which, download))
        count = 30 if which in (True, "train") else 10
        shape = (count, 3, 32, 32) if split is not None else (count, 32, 32, 3)  # SVHN: NCHW, CIFAR: NHWC
        self.data = np.arange(count * 3 * 32 * 32, dtype=np.int64).reshape(shape).astype(np.uint8)
        self.targets = [k % 10 for k in range(count)]
        self.labels = np.array(self.targets)
        self.classes = [f"class {k}" for k in range(10)]


class TestTorchvision:
    @pytest.mark.parametrize(("name", "attribute"), [("cifar10", "CIFAR10"), ("svhn", "SVHN")])
    def test_data_arrays(self, tmp_path, monkeypatch, name, attribute):
        monkeypatch.setattr(torchvision.datasets, attribute, FakeTorchvision)
        monkeypatch.setattr(FakeTorchvision, "calls", [])
        module = AugDataModule(name, data_dir=str(tmp_path), val_size=10, download=True)
        module.prepare_data()
        module.setup("fit")
        downloads = [(str(tmp_path), True, True), (str(tmp_path), False, True)]
        if name == "svhn":
            downloads = [(str(tmp_path), "train", True), (str(tmp_path), "test", True)]
        assert FakeTorchvision.calls[:2] == downloads and all(not call[2] for call in FakeTorchvision.calls[2:])
        fake = FakeTorchvision(str(tmp_path), **({"split": "test"} if name == "svhn" else {"train": False}))
        assert module.test_images.shape == (10, 3, 32, 32) and module.train_images.shape == (20, 3, 32, 32)
        if name == "cifar10":  # NHWC -> NCHW
            assert torch.equal(module.test_images, torch.from_numpy(fake.data).permute(0, 3, 1, 2))
            assert module.class_names[3] == "class 3"
        else:  # SVHN's .data is already NCHW
            assert torch.equal(module.test_images, torch.from_numpy(fake.data))
            assert module.class_names[3] == "3"

    def test_missing_cifar10(self, tmp_path):
        message = (
            f"Dataset 'cifar10' not found: torchvision found no files under `data_dir` ({tmp_path}). To get it, "
            "download it with `--data.download true` (torchvision, on a machine with internet) into `--data.data_dir`."
        )
        with pytest.raises(DatasetNotFoundError, match=exactly(message)):
            AugDataModule("cifar10", data_dir=str(tmp_path)).setup("fit")

    def test_missing_without_data_dir(self):
        message = (
            "Dataset 'svhn' not found: torchvision found no files under `data_dir` (not given). To get it, "
            "download it with `--data.download true` (torchvision, on a machine with internet) into `--data.data_dir`."
        )
        with pytest.raises(DatasetNotFoundError, match=exactly(message)):
            AugDataModule("svhn").setup("fit")

    def test_cifar_class_names_need_setup(self):
        message = "The class names of 'cifar100' are read from its files; call setup() first."
        module = AugDataModule("cifar100")
        assert (module.num_classes, module.in_channels, module.image_size) == (100, 3, 32)
        with pytest.raises(RuntimeError, match=exactly(message)):
            _ = module.class_names


class TestStatistics:
    def test_mean_and_std_per_channel(self):
        images = torch.randint(0, 256, (6, 3, 5, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        mean, std = dataset_statistics(images)
        as_float = images.double().div(255).transpose(0, 1).flatten(1)
        torch.testing.assert_close(mean, as_float.mean(1).float())
        torch.testing.assert_close(std, as_float.std(1, correction=0).float())

    def test_needs_uint8(self):
        message = "`images` should be a uint8 tensor [N, C, H, W], but got torch.float32 [3, 4] instead."
        with pytest.raises(ValueError, match=exactly(message)):
            dataset_statistics(torch.zeros(3, 4))


class TestImageFolderChannels:
    """A grey image folder trains a one-channel model; ``channels`` overrides what the files say."""

    @staticmethod
    def grey_folder(root):
        from tests.datasets.helpers import write_png

        for name in ("a", "b"):
            for k in range(12):
                write_png(root / name / f"{k}.png", (20 * k,), (10, 10), "L")
        return root

    def test_channels_come_from_the_files(self, tmp_path):
        module = AugDataModule("image_folder", data_dir=str(self.grey_folder(tmp_path)), image_size=8, batch_size=4)
        assert module.in_channels == 1
        module.setup()
        assert module.train_images.shape[1:] == (1, 8, 8) and module.num_classes == 2
        assert len(module.test_images) == round(0.2 * 24)  # a seeded 20 % held out: no test/ folder

    def test_channels_given_win(self, tmp_path):
        module = AugDataModule("image_folder", data_dir=str(self.grey_folder(tmp_path)), image_size=8, channels=3)
        module.setup()
        assert module.in_channels == 3 and module.train_images.shape[1] == 3

    @pytest.mark.parametrize(("dataset", "channels"), [("image_folder", 2), ("digits", 1)])
    def test_channels_are_for_image_folders_only(self, tmp_path, dataset, channels):
        with pytest.raises(ValueError, match=r"^`channels` should be None, or 1 or 3 for 'image_folder'"):
            AugDataModule(dataset, data_dir=str(tmp_path), channels=channels)
