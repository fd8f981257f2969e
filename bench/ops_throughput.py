"""Images/s of augmeta applying a policy per sample, against torchvision v2 in the same process.

    python bench/ops_throughput.py [--device cpu|cuda] [--repeats 5] [--path auto|grouped|masked|compiled]

For each policy (AutoAugment CIFAR-10, TrivialAugmentWide), shape (3x32x32, 1x28x28) and batch (256, 1024):
augmeta's batched per-sample ``Policy.apply`` on uint8 batches, torchvision's transform called per image on the
CPU (one process, what a DataLoader worker does), and on CUDA torchvision's whole-batch call (one op for all).
Prints a table (median and min-max over repeats) and, last,
``ratio_vs_torchvision_per_sample=<x>``: augmeta / torchvision per sample at the first of ``--batches`` (256),
3x32x32, mean of both policies. ``--path``: how augmeta applies the draws (:mod:`augmeta.policy.applier`; ``auto``:
grouped on the CPU, masked on a GPU).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from pathlib import Path

import torch
from torchvision.transforms import v2

import augmeta
from augmeta.policy import PATHS

POLICIES = {
    "autoaugment_cifar10": lambda: v2.AutoAugment(v2.AutoAugmentPolicy.CIFAR10),
    "trivialaugment_wide": v2.TrivialAugmentWide,
}
ROOT = Path(__file__).resolve().parents[1]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(fn, images: torch.Tensor, repeats: int, min_seconds: float) -> list[float]:
    """Run ``fn(images)`` until ``min_seconds`` pass, ``repeats`` times; images/s of each repeat."""
    fn(images)  # warm-up (compiles tables, allocator)
    _sync(images.device)
    rates = []
    for _ in range(repeats):
        done, start = 0, time.perf_counter()
        while True:
            fn(images)
            done += images.shape[0]
            _sync(images.device)
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        rates.append(done / elapsed)
    return rates


def per_sample(transform):
    def run(images: torch.Tensor) -> None:
        for image in images:
            transform(image)

    return run


def fmt(rates: list[float]) -> str:
    return f"{statistics.median(rates):>12,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=0.3)
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--path", default="auto", choices=PATHS)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, torchvision, device {device}, threads {threads}, path {args.path}")
    header = f"{'policy':<20} {'shape':<8} {'batch':>5}  {'augmeta img/s':>30}  {'torchvision per sample':>30}"
    header += f"  {'tv whole batch (1 op)':>30}  {'ratio':>6}" if device.type == "cuda" else f"  {'ratio':>6}"
    print(header)
    headline = []
    for name, make_tv in POLICIES.items():
        policy = augmeta.load_policy(ROOT / "policies" / f"{name}.json")
        tv = make_tv()
        for shape in [(3, 32, 32), (1, 28, 28)]:
            for batch in args.batches:
                images = torch.randint(0, 256, (batch, *shape), dtype=torch.uint8)
                apply = functools.partial(policy.apply, path=args.path)
                ours = images_per_second(apply, images.to(device), args.repeats, args.min_seconds)
                theirs = images_per_second(per_sample(tv), images, max(2, args.repeats // 2), args.min_seconds)
                ratio = statistics.median(ours) / statistics.median(theirs)
                row = f"{name:<20} {'x'.join(map(str, shape)):<8} {batch:>5}  {fmt(ours):>30}  {fmt(theirs):>30}"
                if device.type == "cuda":
                    whole = images_per_second(tv, images.to(device), args.repeats, args.min_seconds)
                    row += f"  {fmt(whole):>30}"
                print(row + f"  {ratio:>6.1f}x", flush=True)
                if shape == (3, 32, 32) and batch == args.batches[0]:
                    headline.append(ratio)
    print(f"ratio_vs_torchvision_per_sample={statistics.fmean(headline):.2f}")


if __name__ == "__main__":
    main()
