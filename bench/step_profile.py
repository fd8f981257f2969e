"""Where a training step's time goes: torch.profiler over a few steps of one method, top ops by self time.

    python bench/step_profile.py [--policy none] [--dataset fashion_mnist --train-subset 0] [--batch-size 512]
        [--width 64] [--steps 20] [--data-dir DIR]

Runs ``--warmup`` steps, then profiles ``--steps`` steps of ``AugMetaModule`` (CPU activity and, on a GPU, CUDA
kernels; bf16-mixed there as in the benchmarks), and prints the top ops by self CPU time and by device time. Last
line, per step: ``step_ms=<wall> device_busy_ms=<kernels>``; a wall time well above the device's busy time means the
host (Python, Lightning, kernel launches, waits on copies) is the bottleneck, close to it that the kernels are.
"""

from __future__ import annotations

import argparse
import json
import time

import pytorch_lightning as pl
import torch
from script_setup import EVERY_STEP, add_data_arguments, data_module, ignore_expected_warnings, quiet_trainer
from torch.profiler import ProfilerActivity, profile

from augmeta.lightning import AugMetaModule


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class StepProfiler(pl.Callback):
    """Profiles the training steps ``warmup .. warmup + steps - 1`` and times them."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.steps = warmup, steps
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
        self.profiler = profile(activities=activities)
        self.seconds = float("nan")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if batch_idx == self.warmup:
            _sync()
            self.profiler.__enter__()
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if batch_idx == self.warmup + self.steps - 1:
            _sync()
            self.seconds = time.perf_counter() - self.start
            self.profiler.__exit__(None, None, None)


def _device_time(event) -> float:
    """Self time on the device in microseconds (the attribute's name changed across torch versions)."""
    for name in ("self_device_time_total", "self_cuda_time_total"):
        if hasattr(event, name):
            return float(getattr(event, name))
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="none", help="none, a fixed policy's name, or augmeta")
    add_data_arguments(parser, train_subset=0, batch_size=512, width=64)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--meta", type=json.loads, default={}, help="controller settings for policy augmeta")
    args = parser.parse_args()
    ignore_expected_warnings()
    pl.seed_everything(0, verbose=False)
    data = data_module(args)
    module = AugMetaModule(
        policy=args.policy,
        width=args.width,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        **{**EVERY_STEP, **args.meta},
    )
    profiler = StepProfiler(args.warmup, args.steps)
    trainer = quiet_trainer(
        max_epochs=1, limit_train_batches=args.warmup + args.steps, limit_val_batches=0, callbacks=[profiler]
    )
    trainer.fit(module, datamodule=data)
    averages = profiler.profiler.key_averages()
    print(f"{args.policy}: {args.dataset}, batch {args.batch_size}, width {args.width}, {args.steps} steps profiled")
    print(averages.table(sort_by="self_cpu_time_total", row_limit=args.top))
    device_us = sum(_device_time(event) for event in averages)
    if torch.cuda.is_available():
        print(averages.table(sort_by="self_cuda_time_total", row_limit=args.top))
    steps = args.steps
    print(f"step_ms={1000 * profiler.seconds / steps:.2f} device_busy_ms={device_us / 1000 / steps:.2f}")


if __name__ == "__main__":
    main()
