"""Wall time per epoch and peak memory of the joint run against the same recipe with TrivialAugmentWide.

    python bench/overhead.py [--dataset fashion_mnist --train-subset 4000] [--epochs 3] [--repeats 3]
    python bench/overhead.py --schedule default --meta '{"objective": "affinity"}' --epochs 10   # train.py's run

Both runs use the same model, data, batch size and base crop/flip, in one process and alternating order;
TrivialAugmentWide is applied by augmeta's batched per-sample path on the same device (the fair anchor:
torchvision's per-image CPU path is slower still, see ops_throughput.py). Peak memory is the process's peak RSS
during the run on CPU and ``torch.cuda.max_memory_allocated`` on GPU.
Last line: ``joint_over_trivialaugment=<x>`` (median epoch time ratio). With ``--schedule default`` the runs keep
the module's own schedule (the burn-in without augmentation, the policy off for the last steps), the table adds the
whole ``fit`` time, and the last line is ``joint_over_none=<x>``, the ratio of whole-run medians: what a user's
``train.py`` run costs against one without augmentation. ``--apply-path`` sets every run's ``apply_path``
(:mod:`augmeta.policy.applier`; ``compiled``: the masked step under ``torch.compile``).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import pytorch_lightning as pl
import torch
from script_setup import EVERY_STEP, add_data_arguments, data_module, ignore_expected_warnings, quiet_trainer

from augmeta.lightning import AugMetaModule
from augmeta.policy import PATHS


class EpochTimer(pl.Callback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self.start)


def _reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) of this process."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(policy: str, args: argparse.Namespace) -> tuple[float, float, float]:
    """Median train-epoch seconds (first epoch dropped), the whole fit's seconds and peak memory in MB."""
    pl.seed_everything(0, verbose=False)
    data = data_module(args)
    module = AugMetaModule(
        policy=policy,
        width=args.width,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        apply_path=args.apply_path,
        **{**(EVERY_STEP if args.schedule == "every_step" else {}), **args.meta},
    )
    timer = EpochTimer()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    _reset_peak_rss()
    trainer = quiet_trainer(max_epochs=args.epochs, limit_val_batches=0, callbacks=[timer])
    start = time.perf_counter()
    trainer.fit(module, datamodule=data)
    whole = time.perf_counter() - start
    memory = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else _peak_rss_mb()
    return statistics.median(timer.times[1:] or timer.times), whole, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_arguments(parser, train_subset=4000, batch_size=128, width=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--meta", type=json.loads, default={}, help="controller settings for the joint run")
    parser.add_argument("--apply-path", default="auto", choices=PATHS, help="how every run applies its draws")
    parser.add_argument(
        "--schedule",
        choices=["every_step", "default"],
        default="every_step",
        help="every_step: the policy on every step (what augmenting costs); default: the module's own schedule",
    )
    args = parser.parse_args()
    ignore_expected_warnings()
    times: dict[str, list[float]] = {"trivialaugment": [], "augmeta": [], "none": []}
    wholes: dict[str, list[float]] = {policy: [] for policy in times}
    memory: dict[str, float] = {}
    meta = args.meta
    for repeat in range(args.repeats):
        order = ["trivialaugment", "augmeta", "none"] if repeat % 2 == 0 else ["none", "augmeta", "trivialaugment"]
        for policy in order:
            args.meta = meta if policy == "augmeta" else {}
            seconds, whole, peak = run(policy, args)
            times[policy].append(seconds)
            wholes[policy].append(whole)
            memory[policy] = max(memory.get(policy, 0.0), peak)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.dataset} (train subset {args.train_subset}), batch {args.batch_size}, width {args.width}, {device}")
    print(f"schedule {args.schedule}, apply path {args.apply_path}, joint run's settings {meta or 'the defaults'}")
    print(
        f"{'policy':<16} {'s/epoch median (min-max)':>28} {'vs none':>8} {'s/run median (min-max)':>26} "
        f"{'vs none':>8} {'peak memory MB':>16}"
    )
    for policy, values in times.items():
        ratio = statistics.median(values) / statistics.median(times["none"])
        spread = f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"
        run_ratio = statistics.median(wholes[policy]) / statistics.median(wholes["none"])
        run_spread = f"{statistics.median(wholes[policy]):.1f} ({min(wholes[policy]):.1f}-{max(wholes[policy]):.1f})"
        print(f"{policy:<16} {spread:>28} {ratio:>7.2f}x {run_spread:>26} {run_ratio:>7.2f}x {memory[policy]:>16.0f}")
    if args.schedule == "default":
        print(f"joint_over_none={statistics.median(wholes['augmeta']) / statistics.median(wholes['none']):.2f}")
    else:
        ratio = statistics.median(times["augmeta"]) / statistics.median(times["trivialaugment"])
        print(f"joint_over_trivialaugment={ratio:.2f}")


if __name__ == "__main__":
    main()
