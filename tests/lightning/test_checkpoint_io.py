"""``AtomicCheckpointIO``: checkpoints read back exactly, and a write that fails leaves the old file untouched."""

from __future__ import annotations

import pickle

import pytest
import torch

from augmeta.lightning import AtomicCheckpointIO, cli
from augmeta.lightning import checkpoint_io as module

from .test_cli import IN_PROCESS_WARNINGS, TINY_RUN


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


class _Payload:
    """Unpickling this runs ``exec``: what a tampered checkpoint would carry."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


@pytest.fixture
def served_tampered_checkpoint(tmp_path, monkeypatch):
    """A checkpoint with a code-running payload, served over HTTP on loopback; yields (url, marker path)."""
    import functools
    import http.server
    import threading

    marker = tmp_path / "ran"
    folder = tmp_path / "served"
    folder.mkdir()
    torch.save({"state_dict": {}, "payload": _Payload(marker)}, folder / "x.ckpt")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # torch.hub caches downloads there
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/x.ckpt", marker
    server.shutdown()
    server.server_close()


def test_a_checkpoint_from_a_url_is_loaded_weights_only(served_tampered_checkpoint):
    url, marker = served_tampered_checkpoint
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        AtomicCheckpointIO().load_checkpoint(url)
    assert not marker.exists()


def test_load_from_checkpoint_from_a_url_is_loaded_weights_only(served_tampered_checkpoint):
    from augmeta.lightning import AugMetaModule

    url, marker = served_tampered_checkpoint
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        AugMetaModule.load_from_checkpoint(url)
    assert not marker.exists()


@pytest.mark.parametrize("weights_only", [False, 0, "false"])
def test_weights_only_false_is_refused(tmp_path, weights_only):
    from augmeta.lightning import AugMetaModule

    path = tmp_path / "x.ckpt"
    torch.save({"payload": _Payload(tmp_path / "ran")}, path)
    message = "`weights_only` should be true or unset"
    with pytest.raises(ValueError, match=message):
        AtomicCheckpointIO().load_checkpoint(path, weights_only=weights_only)
    with pytest.raises(ValueError, match=message):
        AugMetaModule.load_from_checkpoint(path, weights_only=weights_only)
    assert not (tmp_path / "ran").exists()


@pytest.mark.filterwarnings(*IN_PROCESS_WARNINGS)
def test_train_py_test_from_a_url_is_loaded_weights_only(served_tampered_checkpoint, tmp_path, monkeypatch):
    url, marker = served_tampered_checkpoint
    monkeypatch.setattr("sys.argv", ["train.py"])
    args = ["test", "--ckpt_path", url, *TINY_RUN, "--trainer.logger.init_args.save_dir", str(tmp_path / "runs")]
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        cli.main(args)
    assert not marker.exists()
