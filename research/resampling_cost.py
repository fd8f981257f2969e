"""How much of a geometric op's affinity cost is the blur of resampling? Probe costs against their round trips.

    python research/resampling_cost.py --dataset upside_down_digits --seed 0 --epochs 5

Trains the learning benchmark's recipe (``bench/learning.py``: small ResNet width 16, batch 64, crop padding 1, no
flip) without augmentation for ``--epochs`` (5 of its 20: the affinity objective's burn-in), then, on the validation
split, prints the affinity cost (the relative drop of the true class's summed probability) of each geometric op at a
few values, twice: the op itself, and its round trip (the op, then its inverse: the same resampling twice and no
change of pose). Where the two are alike the model pays for the blur, not for the turn. Last line:
``roundtrip_share_<op>_<value>=<round trip cost / op cost>`` for the first rotation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from script_setup import fit_without_augmentation, ignore_expected_warnings, loader_tensors  # noqa: E402

from augmeta.policy import StepDraw, apply_step  # noqa: E402
from augmeta.policy.sampler import OP_NAMES  # noqa: E402

#: (op, value): rotations in degrees, translations as a fraction of the side, shears as a factor.
PROBES = (
    ("rotate", 5.6), ("rotate", 11.25), ("rotate", 22.5), ("rotate", 45.0), ("rotate", 90.0),
    ("translate_x", 0.0625), ("translate_x", 0.125), ("shear_x", 0.06), ("shear_x", 0.125),
)  # fmt: skip


def warp(images: torch.Tensor, op: str, value: float, interpolation: str = "bilinear") -> torch.Tensor:
    """Every image through ``op`` at ``value``."""
    n = len(images)
    draw = StepDraw(torch.full((n,), OP_NAMES.index(op)), torch.ones(n), torch.full((n,), value), torch.zeros(n, 2))
    return apply_step(images, draw, (0.0,), interpolation)


def cost(model: torch.nn.Module, clean: torch.Tensor, probed: torch.Tensor, labels: torch.Tensor) -> float:
    """``1 - sum(p(true class | probed)) / sum(p(true class | clean))``, as the affinity objective measures."""
    with torch.no_grad():
        p_clean = torch.softmax(model(clean), 1).gather(1, labels[:, None]).sum()
        p_probed = torch.softmax(model(probed), 1).gather(1, labels[:, None]).sum()
    return float(1.0 - p_probed / p_clean)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="upside_down_digits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--interpolation", default="bilinear", choices=["bilinear", "nearest"])
    args = parser.parse_args()
    ignore_expected_warnings()
    module, data = fit_without_augmentation(args.dataset, args.seed, args.epochs)
    images, labels = loader_tensors(data.val_dataloader())
    model = module.model.eval()
    print(f"{args.dataset}, seed {args.seed}, {args.epochs} epochs without augmentation, {len(images)} validation "
          f"images, {args.interpolation}")  # fmt: skip
    print(f"{'op':12s} {'value':>7s} {'op cost':>8s} {'round trip cost':>16s}")
    shares = {}
    for op, value in PROBES:
        once = warp(images, op, value, args.interpolation)
        back = warp(once, op, -value, args.interpolation)
        op_cost, trip_cost = cost(model, images, once, labels), cost(model, images, back, labels)
        shares.setdefault(op, (value, trip_cost / op_cost if op_cost > 0 else float("nan")))
        print(f"{op:12s} {value:7.3f} {op_cost:8.3f} {trip_cost:16.3f}")
    value, share = shares["rotate"]
    print(f"roundtrip_share_rotate_{value:g}={share:.2f}")


if __name__ == "__main__":
    main()
