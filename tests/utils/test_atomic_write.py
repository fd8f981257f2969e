"""``augmeta.utils.atomic``: readers see the old file or the new one, never a part; nothing is left behind."""

from __future__ import annotations

import os
import stat

import pytest

import augmeta.utils.atomic
from augmeta.utils import atomic_write_bytes, atomic_write_text


def listing(folder):
    return sorted(path.name for path in folder.iterdir())


def test_writes_bytes_and_text(tmp_path):
    assert atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01") == tmp_path / "a.bin"
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert atomic_write_text(str(tmp_path / "b.txt"), "café\n") == tmp_path / "b.txt"
    assert (tmp_path / "b.txt").read_bytes() == "café\n".encode()
    assert listing(tmp_path) == ["a.bin", "b.txt"]


def test_overwrites_and_creates_folders(tmp_path):
    target = tmp_path / "x" / "y" / "file.txt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text(encoding="utf-8") == "new"
    assert listing(target.parent) == ["file.txt"]


@pytest.mark.parametrize("stage", ["write", "fsync", "replace"])
@pytest.mark.parametrize("error", [OSError, KeyboardInterrupt])
def test_failure_at_any_stage_keeps_the_old_file_and_cleans_up(stage, error, tmp_path, monkeypatch):
    target = tmp_path / "file.txt"
    target.write_bytes(b"old contents")

    def fail(*args, **kwargs):
        raise error("boom")

    if stage == "write":
        real_fdopen = os.fdopen

        def fdopen(fd, mode):
            handle = real_fdopen(fd, mode)
            handle.write(b"partial")
            handle.flush()
            handle.write = fail
            return handle

        monkeypatch.setattr(augmeta.utils.atomic.os, "fdopen", fdopen)
    else:
        monkeypatch.setattr(augmeta.utils.atomic.os, stage, fail)
    with pytest.raises(error):
        atomic_write_bytes(target, b"new contents, longer than the old ones")
    monkeypatch.undo()
    assert target.read_bytes() == b"old contents"
    assert listing(tmp_path) == ["file.txt"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_permissions_are_those_of_an_ordinary_write(tmp_path):
    """A new file gets ``0o666 & ~umask`` like ``open(path, "w")``; an overwritten file keeps its mode."""
    previous = os.umask(0o022)
    try:
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
        fresh = atomic_write_text(tmp_path / "fresh.txt", "x")
        assert stat.S_IMODE(fresh.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o644
        shared = tmp_path / "shared.txt"
        shared.write_text("old")
        shared.chmod(0o664)
        atomic_write_text(shared, "new")
        assert stat.S_IMODE(shared.stat().st_mode) == 0o664
    finally:
        os.umask(previous)


def test_a_killed_writes_temporary_file_is_removed_by_the_next_write(tmp_path):
    import os
    import time

    from augmeta.utils import atomic

    target = tmp_path / "policy.json"
    orphan = tmp_path / ".policy.json.abc123.tmp"
    recent = tmp_path / ".policy.json.def456.tmp"  # perhaps another process writing right now: kept
    other = tmp_path / ".other.json.abc123.tmp"
    for path in (orphan, recent, other):
        path.write_text("partial")
    old = time.time() - atomic.ORPHAN_AGE - 5
    os.utime(orphan, (old, old))
    os.utime(other, (old, old))
    atomic.atomic_write_text(target, "{}")
    assert not orphan.exists() and recent.exists() and other.exists() and target.read_text() == "{}"
