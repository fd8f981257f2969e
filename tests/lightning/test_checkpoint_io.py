"""``AtomicCheckpointIO``: checkpoints read back exactly, and a write that fails leaves the old file untouched."""

from __future__ import annotations

import pytest
import torch

from augmeta.lightning import AtomicCheckpointIO
from augmeta.lightning import checkpoint_io as module


def test_a_checkpoint_reads_back_with_weights_only(tmp_path):
    checkpoint = {"state_dict": {"w": torch.arange(6.0).view(2, 3)}, "epoch": 3, "extra": {"ops": ["identity"]}}
    AtomicCheckpointIO().save_checkpoint(checkpoint, tmp_path / "sub" / "last.ckpt")
    loaded = torch.load(tmp_path / "sub" / "last.ckpt", weights_only=True)
    assert torch.equal(loaded["state_dict"]["w"], checkpoint["state_dict"]["w"])
    assert (loaded["epoch"], loaded["extra"]) == (3, {"ops": ["identity"]})


def test_a_crash_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"epoch": 1}, path)
    before = path.read_bytes()

    def crash(obj, handle) -> None:
        handle.write(b"half a checkpoint")
        raise KeyboardInterrupt  # the process is killed while writing

    monkeypatch.setattr(module.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"epoch": 2}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left behind
