"""``AtomicCheckpointIO``: Lightning checkpoints written so that a crash mid-write never leaves a corrupt file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from augmeta.utils import atomic_writer

__all__ = ["AtomicCheckpointIO"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``torch.save`` checkpoints, written to a temporary file beside the target, fsynced, then renamed.

    ``last.ckpt`` and every other checkpoint is either the old file or the complete new one. Remote paths
    (``s3://...``) go through Lightning's own writer, whose stores replace objects whole.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        with atomic_writer(path) as handle:
            torch.save(checkpoint, handle)
