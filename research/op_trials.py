"""Does a short trial tell which ops help? Each op fine-tunes a copy of a burn-in model; held-out accuracy compares.

    python research/op_trials.py --dataset rotated_digits --train-subset 300 --epochs 25 --trial-epochs 5 --seeds 3

Trains the learning benchmark's recipe (``bench/learning.py``: small ResNet width 16, batch 64, crop padding 1, no
flip) without augmentation for ``--epochs`` (the burn-in), then, for each op of ``TRIALS``, fine-tunes a copy of that
model for ``--trial-epochs`` (with the recipe's crop) with the op applied to half the images (its whole range,
magnitude uniform; identity: no op) at a fixed learning rate, and prints each copy's validation accuracy and loss,
minus the identity copy's (mean +/- standard error over seeds; the copies of one seed see the same batches). The
signal the affinity screen lacks is this one: whether training with an op helps held-out accuracy, not whether the
model can read its images.
Last line: ``best_trial=<op> <pp over identity>``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from script_setup import fit_without_augmentation, ignore_expected_warnings, loader_tensors  # noqa: E402

from augmeta.lightning.base_augment import random_crop_flip  # noqa: E402
from augmeta.ops import OPS  # noqa: E402
from augmeta.policy import OP_NAMES, StepDraw, apply_step  # noqa: E402

#: (op, value at magnitude 1): the trials; signed ops draw either sign.
TRIALS = (
    ("identity", 0.0), ("rotate", 180.0), ("rotate", 30.0), ("shear_x", 0.5), ("translate_x", 0.3),
    ("brightness", 0.9), ("flip_y", 0.0),
)  # fmt: skip


def augment_half(images: torch.Tensor, op: str, value: float, generator: torch.Generator) -> torch.Tensor:
    """Half the images (at random) through ``op`` at a magnitude uniform in [0, 1] of ``value``, either sign for a
    signed op; the others unchanged."""
    n = len(images)
    fires = torch.rand(n, generator=generator) < 0.5
    magnitude = torch.rand(n, generator=generator)
    sign = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if OPS[op].signed else torch.ones(n)
    chosen = torch.where(fires, OP_NAMES.index(op), OP_NAMES.index("identity"))
    draw = StepDraw(chosen, magnitude, magnitude * value * sign, torch.rand(n, 2, generator=generator))
    return apply_step(images, draw, (0.0,), "bilinear")


def evaluate(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Accuracy (%) and mean cross-entropy on a held-out set."""
    model.eval()
    with torch.no_grad():
        logits = model(images)
    return 100.0 * float((logits.argmax(1) == labels).float().mean()), float(
        torch.nn.functional.cross_entropy(logits, labels)
    )


def trial(
    base: torch.nn.Module, batches: list, op: str, value: float, epochs: int, lr: float, seed: int
) -> torch.nn.Module:
    """A copy of ``base`` fine-tuned for ``epochs`` over ``batches`` with ``op`` on half the images."""
    model = copy.deepcopy(base).train()
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for images, labels in batches:
            cropped = random_crop_flip(images, 1, False)
            loss = torch.nn.functional.cross_entropy(model(augment_half(cropped, op, value, generator)), labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="rotated_digits")
    parser.add_argument("--train-subset", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=25, help="the burn-in, without augmentation")
    parser.add_argument("--trial-epochs", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.02, help="the trials' fixed learning rate")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    ignore_expected_warnings()
    results: dict[str, list[tuple[float, float]]] = {f"{op} {value:g}": [] for op, value in TRIALS}
    for seed in range(args.seeds):
        module, data = fit_without_augmentation(args.dataset, seed, args.epochs, args.train_subset or None)
        batches = [(b[0].float() / 255.0, b[1]) for b in data.train_dataloader()["train"]]
        val_images, val_labels = loader_tensors(data.val_dataloader())
        for op, value in TRIALS:
            model = trial(module.model, batches, op, value, args.trial_epochs, args.lr, seed)
            results[f"{op} {value:g}"].append(evaluate(model, val_images, val_labels))
    print(
        f"{args.dataset} ({args.train_subset or 'all'} training images), burn-in {args.epochs} epochs, trials "
        f"{args.trial_epochs} epochs at lr {args.lr}, {args.seeds} seeds, {len(val_labels)} validation images"
    )
    print(f"{'trial':18s} {'val acc %':>10s} {'minus identity, pp':>20s} {'val loss':>9s}")
    identity = results["identity 0"]
    best = ("identity 0", 0.0)
    for name, rows in results.items():
        diffs = [row[0] - base[0] for row, base in zip(rows, identity, strict=True)]
        mean = statistics.mean(diffs)
        spread = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
        accuracy, loss = statistics.mean(r[0] for r in rows), statistics.mean(r[1] for r in rows)
        print(f"{name:18s} {accuracy:10.2f} {mean:+13.2f} +/- {spread:4.2f} {loss:9.3f}")
        if mean > best[1]:
            best = (name, mean)
    print(f"best_trial={best[0].replace(' ', '_')} {best[1]:+.2f}")


if __name__ == "__main__":
    main()
