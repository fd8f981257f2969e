"""Small CPU runs of the Lightning layer: the digits data set, a narrow model and a quiet Trainer of a few batches."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

import augmeta
from augmeta.lightning import AugDataModule, AugMetaModule

POLICY_DIR = Path(augmeta.__file__).resolve().parents[1] / "policies"


def exactly(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern that matches the whole message and nothing else."""
    return f"^{re.escape(message)}$"


def digits() -> AugDataModule:
    """The embedded digits data set (8x8 grey images, 10 classes) in batches of 64."""
    return AugDataModule(dataset="digits", batch_size=64)


def small_module(**arguments: Any) -> AugMetaModule:
    """``AugMetaModule`` with a width-8 ``small_resnet``; ``arguments`` override its defaults."""
    return AugMetaModule(width=8, **arguments)


def small_trainer(root: Path, **overrides: Any) -> pl.Trainer:
    """A CPU Trainer without logger, checkpoints or progress bar: one epoch of 3 training and 1 validation batch.

    Keep ``max_epochs * limit_train_batches`` away from 4: see ``test_module.test_runs_of_four_steps_train``.
    """
    settings: dict[str, Any] = {
        "accelerator": "cpu",
        "default_root_dir": root,
        "max_epochs": 1,
        "limit_train_batches": 3,
        "limit_val_batches": 1,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    settings.update(overrides)
    return pl.Trainer(**settings)


def cloned_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``module.state_dict()`` that later training cannot change (the extra state, a dict, included)."""
    return {name: _copied(value) for name, value in module.state_dict().items()}


def _copied(value: Any) -> Any:
    return value.detach().clone() if isinstance(value, torch.Tensor) else copy.deepcopy(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):  # an extra state: a dict of tensors and numbers
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    return torch.equal(a, b) if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) else a == b


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> list[str]:
    """Names of the entries that differ between two state dicts with the same keys."""
    assert before.keys() == after.keys()
    return [name for name in before if not _same(before[name], after[name])]
