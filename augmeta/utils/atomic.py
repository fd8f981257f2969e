"""Crash-safe file writes: write a temporary file beside the target, fsync it, then rename over the target."""

from __future__ import annotations

import glob
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_writer"]


@contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file handle whose content replaces ``path`` only when the block ends without an exception.

    Readers see the old file or the new one, never a part of either; a failed write leaves no temporary file, and a
    write killed before it could clean up (``kill -9``) leaves one that the next write of the same file removes.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _mode_for(target))
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: A temporary file older than this (seconds) belongs to no write in progress: writes take milliseconds.
ORPHAN_AGE = 600.0


def _remove_orphans(target: Path) -> None:
    """Remove ``.NAME.*.tmp`` files that killed writes of ``target`` left behind."""
    now = time.time()
    for orphan in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        try:
            if now - orphan.stat().st_mtime > ORPHAN_AGE:
                orphan.unlink()
        except OSError:
            pass  # another process removed it, or it is not ours to remove


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part of either."""
    with atomic_writer(path) as handle:
        handle.write(data)
    return Path(path)


def _mode_for(target: Path) -> int:
    """Keep an existing file's permissions; a new file gets what ``open`` would give it (0o666 less the umask)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))
