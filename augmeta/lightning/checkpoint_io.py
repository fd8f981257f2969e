"""``AtomicCheckpointIO``: Lightning checkpoints written so that a crash mid-write never leaves a corrupt file, and
read so that nothing in a checkpoint is ever executed (``weights_only=True`` whatever the path, URLs included)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from augmeta.utils import atomic_writer

__all__ = ["AtomicCheckpointIO", "require_weights_only"]


def require_weights_only(weights_only: bool | None) -> None:
    """Refuse ``weights_only=False``: unpickling a full checkpoint runs whatever code the file names.

    Lightning itself switches to ``weights_only=False`` for ``http...`` paths when it is unset; augmeta never does.
    """
    if weights_only is not None and weights_only is not True:
        raise ValueError(
            f"`weights_only` should be true or unset, but got {weights_only!r}: augmeta loads every checkpoint with "
            "weights_only=True, so that a tampered file cannot run code; its own checkpoints hold tensors and "
            "primitives only."
        )


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``torch.save`` checkpoints, written to a temporary file beside the target, fsynced, then renamed.

    ``last.ckpt`` and every other checkpoint is either the old file or the complete new one. Remote paths
    (``s3://...``) go through Lightning's own writer, whose stores replace objects whole. Every load, local or
    remote, unpickles with ``weights_only=True``; asking for ``False`` is refused (:func:`require_weights_only`).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        with atomic_writer(path) as handle:
            torch.save(checkpoint, handle)

    def load_checkpoint(
        self,
        path: str | Path,
        map_location: Callable | None = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        require_weights_only(weights_only)
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)
