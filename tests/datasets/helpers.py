"""Tiny data sets written by the tests: idx files (MNIST's format) and PNG trees; nothing is downloaded."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from augmeta.datasets import DATASET_SPECS


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def write_fake_mnist(folder: Path, compress: bool = True) -> dict[str, np.ndarray]:
    generator = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": generator.integers(0, 256, (40, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(40) % 10,
        "t10k-images-idx3-ubyte": generator.integers(0, 256, (20, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(20) % 10,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write_idx(folder / name, array, compress)
    return arrays


def move_system_fashion_mnist(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make Fashion-MNIST's system folder (Debian's, where installed) ``folder`` for the rest of the test."""
    moved = dataclasses.replace(DATASET_SPECS["fashion_mnist"], system_dir=folder)
    monkeypatch.setitem(DATASET_SPECS, "fashion_mnist", moved)


def write_png(path: Path, colour: tuple[int, ...], size: tuple[int, int], mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)
