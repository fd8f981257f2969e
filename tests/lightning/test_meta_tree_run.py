"""The meta-tree in a run: a class-mode controller writes ``meta_tree.json``, and a tree trains a model as a policy."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from augmeta import load_meta_tree
from augmeta.lightning import AugDataModule, PolicyArtifacts
from augmeta.meta import MetaTree

from .helpers import small_module, small_trainer


def _flip_tree(tmp_path) -> str:
    """Labels 0-4 flipped every time, the others never."""
    identity = {"op": "identity", "weight": 1.0, "range": None, "signed": False}
    flip = {"op": "flip_x", "weight": 1.0, "range": None, "signed": False}

    def policy(name, op):
        return {
            "schema_version": 1,
            "name": name,
            "subpolicies": [{"steps": [{"p": 1.0, "ops": [op]}]}],
            "provenance": {"source": "test", "method": "hand-made"},
        }

    tree = MetaTree.from_dict(
        {
            "schema_version": 1,
            "name": "flip_low_labels",
            "num_classes": 10,
            "nodes": [
                {"kind": "split", "feature": "label", "classes": [0, 1, 2, 3, 4], "left": 1, "right": 2},
                {"kind": "leaf", "policy": 0},
                {"kind": "leaf", "policy": 1},
            ],
            "policies": [policy("flip", flip), policy("none", identity)],
            "provenance": {"source": "test", "method": "hand-made"},
        }
    )
    return str(tree.save(tmp_path / "meta_tree.json"))


def test_a_tree_file_is_a_fixed_policy_that_reads_the_labels(tmp_path):
    module = small_module(policy=_flip_tree(tmp_path), crop_padding=0, flip=False)
    assert isinstance(module.fixed_policy, MetaTree)
    images = torch.rand(6, 1, 8, 8)
    labels = torch.tensor([0, 9, 4, 5, 1, 7])
    module.total_steps, module.base_steps = 10, 5
    out, same = module.on_after_batch_transfer({"train": (images, labels)}, 0)["train"]
    for image, augmented, label in zip(images, out, labels.tolist(), strict=True):
        assert torch.equal(augmented, image.flip(-1) if label < 5 else image)
    trainer = small_trainer(tmp_path)
    trainer.fit(module, AugDataModule(dataset="digits", batch_size=32))


def test_a_class_mode_run_writes_a_meta_tree_that_trains_a_model(tmp_path, capsys):
    pl.seed_everything(0, verbose=False)
    module = small_module(objective="affinity", meta_mode="class", meta_every=1)
    data = AugDataModule(dataset="digits", batch_size=64)
    trainer = small_trainer(tmp_path, max_epochs=3, limit_train_batches=None, callbacks=[PolicyArtifacts(plot=False)])
    trainer.fit(module, data)
    assert module.objective.moves > 0
    tree = load_meta_tree(tmp_path / "meta_tree.json")
    assert (
        tree.num_classes == 10
        and 0.0 <= tree.fidelity <= 1.0
        and sum(node.samples for node in tree.nodes if node.kind == "leaf") == min(4096, len(data.train_labels))
    )
    retrain = small_module(policy=str(tmp_path / "meta_tree.json"))
    small_trainer(tmp_path / "retrain").fit(retrain, AugDataModule(dataset="digits", batch_size=32))


def test_a_global_controller_writes_no_tree(tmp_path):
    module = small_module(objective="affinity", meta_every=1)
    trainer = small_trainer(tmp_path, max_epochs=2, limit_train_batches=None, callbacks=[PolicyArtifacts(plot=False)])
    trainer.fit(module, AugDataModule(dataset="digits", batch_size=32))
    assert module.meta_tree() is None and not (tmp_path / "meta_tree.json").exists()


def test_a_run_whose_controller_never_moved_says_so(tmp_path):
    module = small_module(objective="affinity")
    trainer = small_trainer(tmp_path, max_epochs=1, limit_train_batches=2)
    with pytest.warns(UserWarning, match=r"the controller never moved in this run, so its policy is its start"):
        trainer.fit(module, AugDataModule(dataset="digits", batch_size=32))
