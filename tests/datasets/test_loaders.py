"""Loading each kind of data set from files the tests write (nothing is downloaded), and clear errors."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from augmeta.datasets import (
    DATASET_SPECS,
    IMAGE_FILE_SUFFIXES,
    DatasetNotFoundError,
    ImageFileError,
    dataset_spec,
    download_dataset,
    find_idx_files,
    folder_channels,
    folder_class_names,
    folder_layout,
    load_dataset,
    load_image_files,
    read_images,
    read_rgb_images,
)
from tests.datasets.helpers import write_fake_mnist, write_png


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


@pytest.fixture(scope="module", autouse=True)
def one_intra_op_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_digits_load_with_their_specs_shape_and_classes():
    spec = DATASET_SPECS["digits"]
    loaded = load_dataset("digits")
    assert loaded.train_images.shape == (1797, spec.channels, spec.image_size, spec.image_size)
    assert loaded.train_images.dtype == torch.uint8 and loaded.train_labels.dtype == torch.int64
    assert loaded.train_labels.unique().tolist() == list(range(spec.num_classes))
    assert loaded.class_names == spec.class_names and loaded.test_images is None and loaded.test_labels is None
    assert loaded.train_images.min() == 0 and loaded.train_images.max() == 255


class TestFashionMnistFromIdxFiles:
    """A tiny Fashion-MNIST of idx files (40 train, 20 test images) in a folder of the test's own."""

    def spec(self, system_dir):
        return dataclasses.replace(dataset_spec("fashion_mnist"), system_dir=system_dir)

    @pytest.mark.parametrize(("layout", "compress"), [(".", True), ("FashionMNIST/raw", False)])
    def test_from_data_dir(self, tmp_path, layout, compress):
        arrays = write_fake_mnist(tmp_path / "data" / layout, compress)
        loaded = load_dataset(self.spec(tmp_path / "not-installed"), tmp_path / "data")
        spec = DATASET_SPECS["fashion_mnist"]
        assert loaded.train_images.shape == (40, spec.channels, spec.image_size, spec.image_size)
        assert torch.equal(loaded.test_images[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte"]).to(torch.uint8))
        assert loaded.train_labels.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
        assert loaded.test_labels.dtype == torch.int64 and loaded.class_names == spec.class_names

    def test_from_the_system_folder(self, tmp_path):
        write_fake_mnist(tmp_path / "system")
        loaded = load_dataset(self.spec(tmp_path / "system"))  # no data_dir
        assert loaded.train_images.shape == (40, 1, 28, 28) and loaded.test_images.shape == (20, 1, 28, 28)

    def test_the_first_folder_with_all_four_files_wins(self, tmp_path):
        write_fake_mnist(tmp_path / "data" / "FashionMNIST" / "raw")
        write_fake_mnist(tmp_path / "data")
        (tmp_path / "data" / "t10k-labels-idx1-ubyte.gz").unlink()  # data_dir itself lacks one file
        found = find_idx_files(self.spec(tmp_path / "system"), tmp_path / "data")
        assert [path.parent for path in found] == [tmp_path / "data" / "FashionMNIST" / "raw"] * 4

    def test_missing(self, tmp_path):
        message = (
            "Dataset 'fashion_mnist' not found: looked for train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            f"t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (or unpacked) in {tmp_path}/system, and for "
            "torchvision's files under `data_dir` (not given). To get it, install it with `apt-get install "
            "dataset-fashion-mnist`, or download it with `--data.download true` (torchvision, on a machine with "
            "internet) into `--data.data_dir`."
        )
        with pytest.raises(DatasetNotFoundError, match=exactly(message)):
            load_dataset(self.spec(tmp_path / "system"))


class FakeDataset:
    """Stands in for a torchvision data set class: records its calls; CIFAR-like ``.data`` ``[N, H, W, C]``."""

    calls: list[tuple[str, bool, bool]] = []

    def __init__(self, root: str, train: bool = True, download: bool = False) -> None:
        FakeDataset.calls.append((root, train, download))
        count = 6 if train else 4
        self.data = np.arange(count * 32 * 32 * 3, dtype=np.int64).reshape(count, 32, 32, 3).astype(np.uint8)
        self.targets = [k % 2 for k in range(count)]
        self.classes = ["even", "odd"]


class TestTorchvision:
    def test_cifar_data_become_nchw_and_class_names_come_from_the_files(self, tmp_path, monkeypatch):
        monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeDataset)
        monkeypatch.setattr(FakeDataset, "calls", [])
        loaded = load_dataset("cifar10", tmp_path)
        assert FakeDataset.calls == [(str(tmp_path), True, False), (str(tmp_path), False, False)]
        assert loaded.train_images.shape == (6, 3, 32, 32) and loaded.class_names == ("even", "odd")
        assert torch.equal(
            loaded.test_images, torch.from_numpy(FakeDataset(str(tmp_path), False).data).permute(0, 3, 1, 2)
        )

    def test_download_is_skipped_where_the_idx_files_are(self, tmp_path, monkeypatch):
        monkeypatch.setattr(torchvision.datasets, "MNIST", FakeDataset)
        monkeypatch.setattr(FakeDataset, "calls", [])
        write_fake_mnist(tmp_path / "MNIST" / "raw")
        download_dataset(dataset_spec("mnist"), tmp_path)
        assert FakeDataset.calls == []
        download_dataset(dataset_spec("mnist"), tmp_path / "elsewhere")
        assert FakeDataset.calls == [
            (str(tmp_path / "elsewhere"), True, True),
            (str(tmp_path / "elsewhere"), False, True),
        ]

    def test_only_torchvision_data_sets_download(self, tmp_path):
        with pytest.raises(
            ValueError, match=exactly("Dataset 'digits' cannot be downloaded (only torchvision's data sets can).")
        ):
            download_dataset(dataset_spec("digits"), tmp_path)


class TestImageFolder:
    def write_tree(self, root):
        for k in range(3):
            write_png(root / "train" / "cat" / f"{k}.png", (255, 0, 0), (20 + k, 10), "RGB")
            write_png(root / "train" / "dog" / f"{k}.png", (128,), (7, 9), "L")
        write_png(root / "test" / "dog" / "0.png", (0, 0, 255, 255), (40, 40), "RGBA")

    def test_loads_train_and_test(self, tmp_path):
        self.write_tree(tmp_path)
        spec = DATASET_SPECS["image_folder"]
        loaded = load_dataset(spec, tmp_path)
        assert loaded.class_names == ("cat", "dog") == folder_class_names(tmp_path)
        assert loaded.train_images.shape == (6, spec.channels, spec.image_size, spec.image_size)
        assert loaded.train_labels.tolist() == [0, 0, 0, 1, 1, 1] and loaded.test_labels.tolist() == [1]
        assert (loaded.train_images[:3, 0] == 255).all() and (loaded.train_images[3:] == 128).all()
        assert load_dataset(spec, tmp_path, image_size=12).test_images[0, :, 6, 6].tolist() == [0, 0, 255]

    def test_a_test_class_unknown_to_train(self, tmp_path):
        self.write_tree(tmp_path)
        write_png(tmp_path / "test" / "owl" / "0.png", (1, 2, 3), (4, 4), "RGB")
        message = f"{tmp_path / 'test'} should hold only classes of {tmp_path / 'train'}, but has ['owl']."
        with pytest.raises(ValueError, match=exactly(message)):
            load_dataset("image_folder", tmp_path)

    def test_missing(self, tmp_path):
        message = (
            f"Dataset 'image_folder' not found: `data_dir` ({tmp_path}) should hold <class>/<image> folders, or "
            "train/<class>/<image> (and optionally test/<class>/<image>), images in any format PIL reads (.png, .jpg, "
            "...)."
        )
        with pytest.raises(DatasetNotFoundError, match=exactly(message)):
            folder_class_names(tmp_path)


class TestFolderLayoutsAndChannels:
    """Both layouts (``root/<class>`` and ``root/train/<class>``), channels read from the files, clear errors."""

    @staticmethod
    def write_grey(root, classes=("a", "b"), count=3):
        for name in classes:
            for k in range(count):
                write_png(root / name / f"{k}.png", (40 * k,), (6, 6), "L")

    def test_the_imagefolder_root_layout_and_grey_channels(self, tmp_path):
        self.write_grey(tmp_path)
        assert folder_layout(tmp_path) == (tmp_path, None)
        loaded = load_dataset("image_folder", tmp_path, image_size=8)
        assert loaded.train_images.shape == (6, 1, 8, 8) and loaded.test_images is None
        assert loaded.class_names == ("a", "b") and loaded.train_labels.tolist() == [0, 0, 0, 1, 1, 1]

    def test_sixteen_bit_grey_counts_as_grey_and_one_colour_image_makes_rgb(self, tmp_path):
        self.write_grey(tmp_path / "train")
        Image.fromarray(np.full((6, 6), 30000, dtype=np.uint16)).save(tmp_path / "train" / "a" / "deep.png")
        assert folder_channels(tmp_path) == 1
        write_png(tmp_path / "test" / "b" / "0.png", (9, 200, 9), (6, 6), "RGB")
        assert folder_channels(tmp_path) == 3
        loaded = load_dataset("image_folder", tmp_path, image_size=6)
        assert loaded.train_images.shape[1] == 3 and loaded.test_images[0, :, 0, 0].tolist() == [9, 200, 9]
        assert load_dataset("image_folder", tmp_path, image_size=6, channels=1).train_images.shape[1] == 1

    def test_a_flat_folder_says_what_it_expected(self, tmp_path):
        write_png(tmp_path / "0.png", (1,), (4, 4), "L")
        with pytest.raises(DatasetNotFoundError, match="should hold <class>/<image> folders, or train/<class>/<image>"):
            load_dataset("image_folder", tmp_path)

    def test_a_class_folder_without_images(self, tmp_path):
        self.write_grey(tmp_path, classes=("a",))
        (tmp_path / "empty").mkdir()
        with pytest.raises(DatasetNotFoundError, match="Expected images in every class folder of"):
            load_dataset("image_folder", tmp_path)

    def test_read_images_refuses_other_channel_counts(self, tmp_path):
        with pytest.raises(ValueError, match=r"^`channels` should be 1 or 3, but got 2 instead\.$"):
            read_images([], channels=2)


class TestImageFiles:
    """A flat folder of images, as ``augmeta show --images`` reads it."""

    def test_sorted_by_name_and_resized_to_the_first(self, tmp_path):
        Image.fromarray(np.full((6, 8, 3), 10, dtype=np.uint8)).save(tmp_path / "b.png")
        Image.fromarray(np.full((12, 3), 200, dtype=np.uint8)).save(tmp_path / "a.BMP")
        Image.fromarray(np.full((6, 8, 3), 90, dtype=np.uint8)).save(tmp_path / "c.ppm")  # not a preview suffix
        (tmp_path / "notes.txt").write_text("not an image")
        images = load_image_files(tmp_path, 5)
        assert images.shape == (2, 3, 12, 3) and images.dtype == torch.uint8
        assert (images[0] == 200).all() and (images[1] == 10).all()
        assert load_image_files(tmp_path, 1).shape == (1, 3, 12, 3)

    def test_no_images(self, tmp_path):
        (tmp_path / "notes.txt").write_text("not an image")
        message = f"No images ({', '.join(IMAGE_FILE_SUFFIXES)}) in {tmp_path}."
        with pytest.raises(FileNotFoundError, match=exactly(message)):
            load_image_files(tmp_path, 3)

    def test_read_rgb_images_to_a_size(self, tmp_path):
        write_png(tmp_path / "grey.png", (77,), (5, 9), "L")
        images = read_rgb_images([tmp_path / "grey.png"], (4, 6))
        assert images.shape == (1, 3, 6, 4) and (images == 77).all()


class TestHardImageFiles:
    """16-bit images are scaled, not clipped; a file that cannot be read is one error that names it."""

    def test_a_16_bit_grey_ramp_keeps_its_values(self, tmp_path):
        ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
        Image.fromarray(ramp).save(tmp_path / "ramp.png")
        images = read_rgb_images([tmp_path / "ramp.png"])
        assert images.shape == (1, 3, 64, 64)
        expected = torch.from_numpy(np.rint(ramp / 257.0).astype(np.uint8))
        assert torch.equal(images[0, 0], expected) and torch.equal(images[0, 2], expected)
        assert (images == 255).float().mean() < 0.01  # convert("RGB") alone made 99.6 % of it 255

    def test_a_32_bit_integer_image_is_read_as_16_bit(self, tmp_path):
        Image.fromarray(np.full((4, 4), 65535, dtype=np.int32), mode="I").save(tmp_path / "i.tif")
        assert (read_rgb_images([tmp_path / "i.tif"]) == 255).all()

    @pytest.mark.parametrize(
        ("name", "content", "reason"),
        [
            ("corrupt.png", b"not an image at all", "cannot identify image file"),
            ("empty.jpg", b"", "cannot identify image file"),
        ],
    )
    def test_a_file_that_is_not_an_image(self, tmp_path, name, content, reason):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ImageFileError, match=f"^Cannot read image {re.escape(repr(str(tmp_path / name)))}: "):
            read_rgb_images([tmp_path / name])
        with pytest.raises(ImageFileError, match=reason):
            load_image_files(tmp_path, 3)

    def test_a_truncated_image_names_its_file(self, tmp_path):
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
            tmp_path / "whole.png"
        )
        data = (tmp_path / "whole.png").read_bytes()
        (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
        with pytest.raises(ImageFileError) as error:
            read_rgb_images([tmp_path / "whole.png", tmp_path / "cut.png"])
        assert str(tmp_path / "cut.png") in str(error.value) and "whole and not corrupt" in str(error.value)

    def test_a_float_image_is_refused_by_name(self, tmp_path):
        Image.fromarray(np.full((4, 4), 0.5, dtype=np.float32), mode="F").save(tmp_path / "f.tif")
        with pytest.raises(ImageFileError, match="f.tif'.*32-bit float images are not read"):
            read_rgb_images([tmp_path / "f.tif"])

    def test_a_corrupt_image_in_a_folder_data_set(self, tmp_path):
        for k in range(2):
            write_png(tmp_path / "train" / "cat" / f"{k}.png", (255, 0, 0), (8, 8), "RGB")
        (tmp_path / "train" / "cat" / "2.png").write_bytes(b"\x89PNG garbage")
        with pytest.raises(ImageFileError, match=re.escape(str(tmp_path / "train" / "cat" / "2.png"))):
            load_dataset("image_folder", tmp_path)
