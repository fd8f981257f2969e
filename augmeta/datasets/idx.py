"""The idx file format of MNIST and Fashion-MNIST: a big-endian header, then unsigned bytes."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

__all__ = ["read_idx"]


def read_idx(path: str | Path) -> np.ndarray:
    """Read an idx file (the MNIST format: big-endian header, unsigned bytes), gzip-compressed if named ``*.gz``."""
    path = Path(path)
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} should be an idx file of unsigned bytes (header 00 00 08 ..), but got {data[:4]!r}.")
    shape = tuple(int.from_bytes(data[4 + 4 * d : 8 + 4 * d], "big") for d in range(data[3]))
    offset = 4 + 4 * len(shape)
    if len(data) - offset != int(np.prod(shape)):
        raise ValueError(
            f"{path} should hold {int(np.prod(shape))} bytes of shape {shape}, but has {len(data) - offset}."
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)
