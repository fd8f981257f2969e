"""What the benchmark scripts share: the data set's arguments, a quiet Trainer, one timed fit and test, and the
warnings to ignore."""

from __future__ import annotations

import argparse
import time
import warnings
from typing import Any

import pytorch_lightning as pl
import torch

from augmeta.lightning import AugDataModule, AugMetaModule

#: Module settings of the timing and signal scripts: the policy on every step (``train.py`` stops it after 80 % of
#: the steps by default), so they measure what augmenting costs and what the controller sees, as they did before.
EVERY_STEP: dict[str, Any] = {"augment_until": 1.0}


def add_data_arguments(parser: argparse.ArgumentParser, train_subset: int, batch_size: int, width: int) -> None:
    """``--dataset --train-subset --data-dir --batch-size --width``, with this script's defaults."""
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--train-subset", type=int, default=train_subset, help="0 for the whole training set")
    parser.add_argument("--data-dir", default=None, help="where the data set's files are (default: the usual places)")
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--width", type=int, default=width)


def data_module(args: argparse.Namespace) -> AugDataModule:
    """The data module the arguments of :func:`add_data_arguments` name."""
    return AugDataModule(
        args.dataset, data_dir=args.data_dir, batch_size=args.batch_size, train_subset=args.train_subset or None
    )


def ignore_expected_warnings() -> None:
    """Lightning's advice that does not apply here: loader workers (batches are one indexing of in-memory tensors)
    and the overridden ``on_after_batch_transfer`` (augmentation runs there, on the device, by design)."""
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*on_after_batch_transfer.*")


def quiet_trainer(**settings: Any) -> pl.Trainer:
    """One device (the GPU where there is one, in bf16-mixed), no logger, checkpoints, progress bar, model summary or
    sanity validation; ``settings`` add to or override these."""
    defaults: dict[str, Any] = {
        "accelerator": "auto",
        "devices": 1,
        "precision": "bf16-mixed" if torch.cuda.is_available() else "32-true",
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "num_sanity_val_steps": 0,
    }
    return pl.Trainer(**{**defaults, **settings})


def fit_without_augmentation(
    dataset: str, seed: int, epochs: int, train_subset: int | None = None
) -> tuple[AugMetaModule, AugDataModule]:
    """The learning benchmark's recipe (small ResNet width 16, batch 64, lr 0.05, crop padding 1, no flip) trained
    ``epochs`` on ``dataset`` without augmentation, seeded: what the affinity objective's burn-in trains (the
    research scripts that probe such a model start from it)."""
    pl.seed_everything(seed, verbose=False)
    data = AugDataModule(dataset, batch_size=64, train_subset=train_subset, seed=seed)
    module = AugMetaModule(
        policy="none", width=16, lr=0.05, crop_padding=1, flip=False,
        num_classes=data.num_classes, in_channels=data.in_channels,
    )  # fmt: skip
    quiet_trainer(max_epochs=epochs, check_val_every_n_epoch=epochs).fit(module, datamodule=data)
    return module, data


def loader_tensors(loader) -> tuple[torch.Tensor, torch.Tensor]:
    """A loader's ``(uint8 images, labels)`` batches as one float batch in [0, 1] and its labels."""
    batches = list(loader)
    return torch.cat([b[0] for b in batches]).float() / 255.0, torch.cat([b[1] for b in batches])


def fit_and_test(trainer: pl.Trainer, module: pl.LightningModule, data: pl.LightningDataModule) -> dict[str, float]:
    """Train, then test: ``test_acc`` and the last ``val_acc`` in %, and the seconds ``fit`` took."""
    start = time.perf_counter()
    trainer.fit(module, datamodule=data)
    seconds = time.perf_counter() - start
    val_acc = float(trainer.callback_metrics.get("val_acc", float("nan")))
    test_acc = float(trainer.test(module, datamodule=data, verbose=False)[0]["test_acc"])
    return {"test_acc": 100 * test_acc, "val_acc": 100 * val_acc, "seconds": seconds}
