"""Small helpers shared by every layer (imports nothing else of augmeta)."""

from augmeta.utils.atomic import atomic_write_bytes, atomic_write_text, atomic_writer
from augmeta.utils.idx import SYSTEM_FASHION_MNIST_DIR, read_idx

__all__ = ["SYSTEM_FASHION_MNIST_DIR", "atomic_write_bytes", "atomic_write_text", "atomic_writer", "read_idx"]
