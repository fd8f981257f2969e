"""Small helpers shared by every layer (imports nothing else of augmeta)."""

from augmeta.utils.atomic import atomic_write_bytes, atomic_write_text, atomic_writer

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_writer"]
