"""Does the controller's objective point anywhere? The consistency of its gradients over a run.

    python research/controller_signal.py [--dataset fashion_mnist --train-subset 4000] [--width 16] [--epochs 10]
        [--seeds 2] [--meta '{"objective": "teacher"}']

Trains joint runs with the controller frozen (``meta_lr`` 0, so the policy it is asked about stays the start and the
gradients of every controller step are samples of one quantity) and the entropy bonus off (its gradient is not the
objective's), and records the gradient each controller step sends to every learned number (op logits, magnitude
logits). For each number, over the steps: ``t = mean / standard error``. An objective with a signal gives the same
direction step after step (|t| well above 1 for many numbers); one whose gradients are noise gives |t| like a normal
variable's (mean |t| about 0.8, |t| > 2 for about 5 % of the numbers). The same statistics after flipping each step's
gradient by a random sign (which keeps the noise and removes any direction) are printed as the null, and so is the
share of the steps' gradient energy that the mean direction carries (1 for a fixed direction, about 1/steps for noise),
and the cosine between different seeds' mean gradients (a direction the data set gives, not the run).
Last line: ``controller_signal_mean_abs_t=<t> null=<t>``, over all seeds' numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))  # bench/'s modules, as its scripts import them

from script_setup import EVERY_STEP, add_data_arguments, data_module, ignore_expected_warnings, quiet_trainer

from augmeta.lightning import AugMetaModule


class GradientRecorder(pl.Callback):
    """Keeps a copy of every gradient that reaches the controller's parameters (one backward per controller step)."""

    def __init__(self) -> None:
        self.steps: dict[str, list[torch.Tensor]] = {}

    def on_fit_start(self, trainer, pl_module) -> None:
        for name, parameter in pl_module.meta.named_parameters():
            self.steps[name] = []
            parameter.register_hook(lambda grad, name=name: self.steps[name].append(grad.detach().flatten().cpu()))


def number_labels(network, name: str) -> list[str]:
    """A name for each number of the controller's parameter ``name``: its op (and step / sub-policy where several)."""
    parameter = dict(network.named_parameters())[name]
    if name not in ("op_logits", "magnitude_logits"):
        return [f"{name}[{i}]" for i in range(parameter.numel())]
    subpolicies, steps, ops = parameter.shape
    labels = []
    for k in range(subpolicies):
        for step in range(steps):
            where = f"s{k}." if subpolicies > 1 else ""
            labels.extend(f"{where}step{step}.{op}" for op in network.ops)
    return labels


def t_statistics(gradients: torch.Tensor) -> torch.Tensor:
    """``[numbers]`` mean over steps over its standard error, for ``gradients[steps, numbers]``."""
    steps = gradients.shape[0]
    std = gradients.std(dim=0).clamp_min(1e-30)
    return gradients.mean(dim=0) / (std / steps**0.5)


def direction_share(gradients: torch.Tensor) -> float:
    """``|mean gradient|^2 / mean |gradient|^2``: 1 when every step points the same way, about 1/steps for noise."""
    return float(gradients.mean(dim=0).square().sum() / gradients.square().sum(dim=1).mean().clamp_min(1e-30))


def summarise(
    name: str, gradients: torch.Tensor, generator: torch.Generator, labels: list[str] | None = None, top: int = 4
) -> dict[str, object]:
    """The statistics of one parameter's ``gradients[steps, numbers]`` and, where ``labels`` name the numbers, the
    ``top`` numbers by |t| with their signed t."""
    signs = torch.randint(0, 2, (gradients.shape[0], 1), generator=generator).float() * 2 - 1
    signed_t = t_statistics(gradients)
    t, null = signed_t.abs(), t_statistics(gradients * signs).abs()
    largest = t.argsort(descending=True)[:top].tolist() if labels is not None else []
    return {
        "top": ", ".join(f"{labels[i]} {float(signed_t[i]):+.1f}" for i in largest),
        "name": name,
        "steps": gradients.shape[0],
        "numbers": gradients.shape[1],
        "mean_abs_t": float(t.mean()),
        "null_mean_abs_t": float(null.mean()),
        "share_t_over_2": float((t > 2).float().mean()),
        "null_share_t_over_2": float((null > 2).float().mean()),
        "max_abs_t": float(t.max()),
        "direction_share": direction_share(gradients),
        "null_direction_share": direction_share(gradients * signs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser, train_subset=4000, batch_size=128, width=16)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--seed-start", type=int, default=0, help="the first seed: runs seed-start .. + seeds - 1")
    parser.add_argument("--top", type=int, default=4, help="print the numbers with the largest |t| of each parameter")
    parser.add_argument("--meta", type=json.loads, default={}, help="controller settings (meta_lr is set to 0)")
    args = parser.parse_args()
    ignore_expected_warnings()
    settings = {"entropy_weight": 0.0, **EVERY_STEP, **args.meta, "meta_lr": 0.0}
    rows, means = [], {}
    for seed in range(args.seed_start, args.seed_start + args.seeds):
        pl.seed_everything(seed, verbose=False)
        data = data_module(args)
        module = AugMetaModule(width=args.width, num_classes=data.num_classes, in_channels=data.in_channels, **settings)
        recorder = GradientRecorder()
        trainer = quiet_trainer(max_epochs=args.epochs, limit_val_batches=0, callbacks=[recorder])
        trainer.fit(module, datamodule=data)
        generator = torch.Generator().manual_seed(seed)
        for name, steps in recorder.steps.items():
            if not steps:
                continue
            gradients = torch.stack(steps)
            if gradients.shape[0] >= 2 and gradients.any():  # every number, so that the seeds' vectors line up
                means.setdefault(name, []).append(gradients.mean(dim=0))
            moved = gradients.abs().amax(dim=0) > 0  # not the numbers no step moves (one sub-policy's logit)
            labels = [
                label for label, keep in zip(number_labels(module.meta, name), moved.tolist(), strict=True) if keep
            ]
            gradients = gradients[:, moved]
            if gradients.shape[1] == 0 or gradients.shape[0] < 2:  # nothing moves, or no spread to compare with
                continue
            rows.append({"seed": seed, **summarise(name, gradients, generator, labels, args.top)})
    if not rows:
        raise SystemExit("No controller parameter got gradients in two controller steps or more: train longer.")
    numbers = sum(row["numbers"] for row in rows)
    print(f"{args.dataset} (train subset {args.train_subset}), width {args.width}, {args.epochs} epochs, "
          f"controller settings {json.dumps(settings, sort_keys=True)}")  # fmt: skip
    print("| seed | parameter | steps | numbers | mean abs t (null) | share abs t > 2 (null) | max abs t | "
          "direction share (null) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['seed']} | {row['name']} | {row['steps']} | {row['numbers']} | {row['mean_abs_t']:.2f} "
            f"({row['null_mean_abs_t']:.2f}) | {row['share_t_over_2']:.2f} ({row['null_share_t_over_2']:.2f}) | "
            f"{row['max_abs_t']:.1f} | {row['direction_share']:.3f} ({row['null_direction_share']:.3f}) |"
        )
    print("Largest |t| (a positive t: the objective pushes that number down, a negative one up):")
    for row in rows:
        print(f"  seed {row['seed']} {row['name']}: {row['top']}")
    for name, seed_means in means.items():  # do different runs' gradients point the same way?
        pairs = [
            float(torch.nn.functional.cosine_similarity(a, b, dim=0))
            for i, a in enumerate(seed_means)
            for b in seed_means[i + 1 :]
        ]
        if pairs:
            chance = 1 / int((seed_means[0] != 0).sum().clamp_min(1)) ** 0.5
            print(f"{name}: cosine between the seeds' mean gradients {' '.join(f'{c:+.2f}' for c in pairs)} "
                  f"(chance: about +/-{chance:.2f})")  # fmt: skip
    mean_t = statistics.fsum(row["mean_abs_t"] * row["numbers"] for row in rows) / numbers
    mean_null = statistics.fsum(row["null_mean_abs_t"] * row["numbers"] for row in rows) / numbers
    print(f"controller_signal_mean_abs_t={mean_t:.2f} null={mean_null:.2f}")


if __name__ == "__main__":
    main()
