"""``PolicyArtifacts``: the files a run writes (policies per epoch, the meta-network, the history and its plot)."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from pytorch_lightning.loggers import CSVLogger

import augmeta
from augmeta.lightning import AugMetaModule, PolicyArtifacts
from augmeta.lightning.callbacks import run_summary
from augmeta.meta import MetaNetwork, default_ops

from .helpers import digits, small_module, small_trainer

GREY_OPS = default_ops(1)  # what a controller for digits offers: no `color`

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WRITTEN = {
    "policy/epoch_000.json",
    "policy/epoch_001.json",
    "policy/latest.json",
    "meta_network.pt",
    "policy_history.csv",
    "policy_evolution.png",
}


def files_under(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[AugMetaModule, Path]:
    """A two-epoch meta run with ``PolicyArtifacts`` and a CSV logger; returns the module and the run's folder."""
    root = tmp_path_factory.mktemp("artifacts")
    module = small_module(meta_every=2)
    trainer = small_trainer(
        root,
        max_epochs=2,
        logger=CSVLogger(save_dir=root, name="run", version=""),
        log_every_n_steps=1,
        callbacks=[PolicyArtifacts()],
    )
    trainer.fit(module, digits())
    return module, root / "run"


def test_a_run_writes_every_artifact_and_nothing_else(run):
    _, folder = run
    written = files_under(folder)
    assert WRITTEN <= written
    assert [name for name in written if Path(name).name.startswith(".") or name.endswith(".tmp")] == []
    assert written - WRITTEN <= {"metrics.csv", "hparams.yaml"}  # the logger's own files


def test_policy_files_per_epoch_and_latest(run):
    module, folder = run
    first, last, latest = (
        augmeta.load_policy(folder / "policy" / f"{n}.json") for n in ("epoch_000", "epoch_001", "latest")
    )
    assert first.name == "run_epoch_000"
    assert last.name == "run_epoch_001"
    assert latest == last
    assert (folder / "policy" / "latest.json").read_bytes() == (folder / "policy" / "epoch_001.json").read_bytes()
    schedule = "; applied to the first 80% of the training steps (augment_until)"  # the default schedule
    assert first.provenance.notes == "epoch 0, 3 base steps" + schedule
    assert last.provenance.notes == "epoch 1, 6 base steps" + schedule
    assert last.subpolicies == module.meta.to_policy().subpolicies  # the network as training left it


def test_meta_network_file_loads_with_weights_only(run):
    module, folder = run
    state = torch.load(folder / "meta_network.pt", weights_only=True)
    fresh = MetaNetwork.from_state_dict(state)
    assert fresh.ops == list(GREY_OPS)
    trained = module.meta.state_dict()
    assert state.keys() == trained.keys()
    assert fresh.config == state["_extra_state"]["config"]
    assert all(torch.equal(fresh.state_dict()[name], trained[name]) for name in trained if name != "_extra_state")


def test_policy_history_has_one_row_per_epoch(run):
    module, folder = run
    with open(folder / "policy_history.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    summary = module.policy_summary()
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert list(rows[0]) == ["epoch", *summary]
    assert {key: float(value) for key, value in rows[-1].items() if key != "epoch"} == summary
    assert sum(float(rows[0][f"policy/p_{op}"]) for op in GREY_OPS) == pytest.approx(1.0, abs=1e-5)


def test_policy_evolution_is_a_png(run):
    _, folder = run
    assert (folder / "policy_evolution.png").read_bytes().startswith(PNG_SIGNATURE)


def fake_trainer(folder: Path, epoch: int, max_epochs: int) -> SimpleNamespace:
    """What the callback reads of a Trainer."""
    return SimpleNamespace(
        sanity_checking=False,
        current_epoch=epoch,
        max_epochs=max_epochs,
        log_dir=str(folder),
        default_root_dir=".",
        is_global_zero=True,
        callback_metrics={},
    )


def test_every_n_epochs_writes_on_those_epochs_and_the_last(run, tmp_path):
    module, _ = run
    callback = PolicyArtifacts(every_n_epochs=2, plot=False)
    for epoch in range(3):
        callback.on_train_epoch_end(fake_trainer(tmp_path, epoch, max_epochs=3), module)
    assert [row["epoch"] for row in callback.history] == [0, 1, 2]
    assert files_under(tmp_path) == {
        "policy/epoch_001.json",
        "policy/epoch_002.json",
        "policy/latest.json",
        "meta_network.pt",
        "policy_history.csv",
    }
    callback.on_fit_end(fake_trainer(tmp_path, 2, max_epochs=3), module)
    assert not (tmp_path / "policy_evolution.png").exists()  # plot=False


def test_a_fixed_policy_run_writes_nothing(tmp_path):
    callback = PolicyArtifacts()
    callback.on_train_epoch_end(fake_trainer(tmp_path, 0, max_epochs=1), small_module(policy="randaugment"))
    callback.on_fit_end(fake_trainer(tmp_path, 0, max_epochs=1), small_module(policy="randaugment"))
    assert callback.history == []
    assert files_under(tmp_path) == set()


def test_the_history_is_part_of_the_callback_state():
    callback = PolicyArtifacts()
    callback.history.append({"epoch": 0, "policy/p_identity": 0.5})
    restored = PolicyArtifacts()
    restored.load_state_dict(callback.state_dict())
    assert restored.history == callback.history


def test_only_rank_zero_writes_though_every_rank_asks_for_the_folder(run, tmp_path):
    """Under DDP ``trainer.log_dir`` is a collective: every process asks for it, and only rank 0 writes."""
    module, _ = run
    asked = []

    class OtherRank(SimpleNamespace):
        @property
        def log_dir(self):
            asked.append(True)
            return str(tmp_path)

    trainer = OtherRank(
        sanity_checking=False, current_epoch=0, max_epochs=1, default_root_dir=".", is_global_zero=False
    )
    PolicyArtifacts(plot=False).on_train_epoch_end(trainer, module)
    assert asked and not any(tmp_path.iterdir())


def test_the_run_summary_ranks_ops_and_measures_the_move(tmp_path):
    start = {"policy/p_identity": 0.5, "policy/p_rotate": 0.25, "policy/p_flip_y": 0.25, "policy/m_rotate": 0.3}
    end = {"policy/p_identity": 0.6, "policy/p_rotate": 0.4, "policy/p_flip_y": 0.0, "policy/m_rotate": 0.5}
    text = run_summary(tmp_path, {"val_acc": torch.tensor(0.91234)}, end, start)
    lines = text.splitlines()
    assert lines[0] == f"augmeta: run finished: {tmp_path}"
    assert lines[1] == "  last validation: val_acc 0.9123"
    assert lines[2] == "  learned policy, P(op) per step: identity 0.60, rotate 0.40 (m 0.50), flip_y 0.00"
    assert lines[3] == "  moved from its start: 0.25 of the op probability"  # flip_y's quarter went elsewhere
    assert "train.py test" not in text  # no checkpoint to test


def test_a_fixed_policy_run_summary_has_no_policy_lines(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    text = run_summary(tmp_path, {}, None, None)
    assert text.splitlines() == [
        f"augmeta: run finished: {tmp_path}",
        "  next:",
        f"    python train.py test --ckpt_path {tmp_path / 'checkpoints' / 'last.ckpt'}",
    ]
