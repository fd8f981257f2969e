"""``read_idx``: MNIST's file format, gzip-compressed or not, and clear errors for other files."""

from __future__ import annotations

import re

import numpy as np
import pytest

from augmeta.datasets import read_idx, read_idx_images
from tests.datasets.helpers import write_idx


def exactly(message: str) -> str:
    return f"^{re.escape(message)}$"


@pytest.mark.parametrize("compress", [True, False])
def test_reads_what_was_written(tmp_path, compress):
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    write_idx(tmp_path / "images", array, compress)
    path = tmp_path / ("images.gz" if compress else "images")
    np.testing.assert_array_equal(read_idx(path), array.astype(np.uint8))
    assert read_idx_images(path).shape == (2, 1, 3, 4)


def test_read_idx_rejects_other_files(tmp_path):
    (tmp_path / "file").write_bytes(b"\x00\x00\x0d\x01")
    message = (
        f"{tmp_path / 'file'} should be an idx file of unsigned bytes (header 00 00 08 ..), "
        "but got b'\\x00\\x00\\r\\x01'."
    )
    with pytest.raises(ValueError, match=exactly(message)):
        read_idx(tmp_path / "file")


def test_read_idx_rejects_a_truncated_file(tmp_path):
    (tmp_path / "file").write_bytes(bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + b"abc")
    message = f"{tmp_path / 'file'} should hold 5 bytes of shape (5,), but has 3."
    with pytest.raises(ValueError, match=exactly(message)):
        read_idx(tmp_path / "file")
