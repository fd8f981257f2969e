"""Correctness on the GPU before any timing: every op and three published policies give the CPU's result there.

    python bench/gpu_parity.py [--device cuda]

Each op runs on the same images, magnitudes and cutout positions on the CPU and on ``--device``; each policy
replays the same draws (made on the CPU) on both, on ``--device`` by the grouped and by the masked path
(:mod:`augmeta.policy.applier`). Prints the largest difference per op, the fraction of pixels off
by more than one grey level per policy, and exits non-zero where a policy differs (posterize and equalize quantise,
so a float difference of one level is expected there and is not counted in the worst float difference).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import augmeta
from augmeta.ops import OPS, KernelContext, apply_op

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("autoaugment_cifar10", "trivialaugment_wide", "randaugment_n2_m9")
QUANTISING = ("posterize", "equalize")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="largest fraction of pixels off per policy")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device on this machine.")
    torch.manual_seed(0)
    images, magnitudes, positions = torch.rand(64, 3, 32, 32), torch.rand(64), torch.rand(64, 2)
    worst = 0.0
    for name in OPS:
        on_cpu = apply_op(name, images, magnitudes, context=KernelContext(position=positions))
        there = apply_op(
            name, images.to(device), magnitudes.to(device), context=KernelContext(position=positions.to(device))
        )
        diff = (on_cpu - there.cpu()).abs().max().item()
        worst = max(worst, 0.0 if name in QUANTISING else diff)
        print(f"parity {name:<14} max|cpu-{device.type}| = {diff:.2e}")
    failures = []
    for name in POLICIES:
        policy = augmeta.load_policy(ROOT / "policies" / f"{name}.json")
        batch = torch.randint(0, 256, (512, 3, 32, 32), dtype=torch.uint8).float() / 255
        draws = policy.sample(512, "cpu", torch.Generator().manual_seed(1))
        on_cpu = policy.apply_draws(batch, draws, path="grouped")
        for path in ("grouped", "masked"):  # the device's own default is the masked path
            there = policy.apply_draws(batch.to(device), draws.to(device), path=path).cpu()
            off = ((on_cpu - there).abs() > 1.5 / 255).float().mean().item()
            print(f"policy parity {name} ({path} path): fraction of pixels off by > 1 grey level = {off:.2e}")
            if off >= args.tolerance:
                failures.append(f"{name}, {path} path ({off:.2e})")
    if failures:
        raise SystemExit(f"policies that differ on {device}: {', '.join(failures)} (tolerance {args.tolerance:.0e})")
    print(f"kernel parity ok (worst float diff {worst:.2e})")


if __name__ == "__main__":
    main()
