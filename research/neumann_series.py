"""Does the implicit objective's Neumann series converge? The curvature of a joint run's base model, and the terms.

    python research/neumann_series.py [--dataset fashion_mnist --train-subset 4000] [--width 16] [--epochs 3 12]
        [--alphas 0.01 0.03 0.1] [--terms 10]

Trains a joint run's base model (the controller frozen at its start, as ``research/controller_signal.py`` does) and,
after each of ``--epochs``, takes one augmented training batch and one validation batch as a controller step would:
``lambda_max`` of the training loss's Hessian w.r.t. the weights (power iteration on
:func:`augmeta.meta.objectives.weight_hessian_vector`) and, for each ``alpha``, the norm of each term
``(I - alpha H_w)^j v`` of :class:`augmeta.meta.ImplicitObjective`'s series over ``|v|``. Each eigenvalue
``lambda`` scales its part of a term by ``1 - alpha * lambda`` per term: the sharp directions grow geometrically
where ``alpha * lambda_max > 2``, and the negative curvature of a loss away from its minimum grows slowly at any
``alpha`` (by ``1 + alpha * |lambda|``), so the norms stay near 1 only at a small ``alpha``.
Last line: ``neumann_lambda_max=<l>  largest_safe_alpha=<2 / l>`` at the last epoch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))  # bench/'s modules, as its scripts import them

from script_setup import EVERY_STEP, add_data_arguments, data_module, ignore_expected_warnings, quiet_trainer

from augmeta.lightning import AugMetaModule
from augmeta.meta.objectives import preserved_batchnorm, tensors_norm, weight_hessian_vector

Vector = tuple[torch.Tensor, ...]


def largest_eigenvalue(hvp: Callable[[Vector], Vector], like: Vector, iterations: int, seed: int = 0) -> float:
    """``lambda_max`` (largest in absolute value) of the symmetric operator ``hvp`` by power iteration."""
    generator = torch.Generator().manual_seed(seed)
    u = tuple(torch.randn(t.shape, generator=generator, dtype=t.dtype).to(t.device) for t in like)
    value = 0.0
    for _ in range(iterations):
        hu = hvp(u)
        norm = tensors_norm(hu)
        value = float(sum((a * b).sum() for a, b in zip(u, hu, strict=True)) / tensors_norm(u) ** 2)
        u = tuple(t / norm for t in hu)
    return value


def term_norms(hvp: Callable[[Vector], Vector], v: Vector, alpha: float, terms: int) -> list[float]:
    """``|(I - alpha H) ^ j v| / |v|`` for ``j = 1 .. terms``."""
    term, norms = v, []
    for _ in range(terms):
        term = tuple(t - alpha * h for t, h in zip(term, hvp(term), strict=True))
        norms.append(float(tensors_norm(term) / tensors_norm(v)))
    return norms


class SeriesProbe(pl.Callback):
    """After the epochs in ``epochs``, probes the series on the batches a controller step would see."""

    def __init__(self, epochs: list[int], alphas: list[float], terms: int, iterations: int) -> None:
        self.epochs, self.alphas, self.terms, self.iterations = set(epochs), alphas, terms, iterations
        self.rows: list[dict[str, object]] = []
        self.batch = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == 0:
            self.batch = batch  # after the base crop / flip, before the controller's draw

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch + 1
        if epoch not in self.epochs:
            return
        model, criterion = pl_module.model, pl_module.criterion
        images, labels = self.batch["train"]
        with torch.no_grad():
            images = pl_module.meta.augment(images, labels).images
        val_images, val_labels = self.batch["meta"]
        params = [p for p in model.parameters() if p.requires_grad]
        with preserved_batchnorm(model):
            v = torch.autograd.grad(criterion(model(val_images), val_labels), params)
            g = torch.autograd.grad(criterion(model(images), labels), params)

            def hvp(u: Vector) -> Vector:
                return weight_hessian_vector(model, criterion, images, labels, params, g, u)

            row: dict[str, object] = {"epoch": epoch, "lambda_max": largest_eigenvalue(hvp, v, self.iterations)}
            row["norms"] = {alpha: term_norms(hvp, v, alpha, self.terms) for alpha in self.alphas}
        self.rows.append(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser, train_subset=4000, batch_size=128, width=16)
    parser.add_argument("--epochs", type=int, nargs="+", default=[3, 12], help="probe after these epochs")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.01, 0.03, 0.1])
    parser.add_argument("--terms", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=15, help="power iterations for lambda_max")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ignore_expected_warnings()
    pl.seed_everything(args.seed, verbose=False)
    data = data_module(args)
    settings = {**EVERY_STEP, "meta_lr": 0.0, "objective": "implicit"}
    module = AugMetaModule(width=args.width, num_classes=data.num_classes, in_channels=data.in_channels, **settings)
    probe = SeriesProbe(args.epochs, args.alphas, args.terms, args.iterations)
    quiet_trainer(max_epochs=max(args.epochs), limit_val_batches=0, callbacks=[probe]).fit(module, datamodule=data)
    print(f"{args.dataset} (train subset {args.train_subset}), width {args.width}, seed {args.seed}")
    print("| after epoch | lambda_max | alpha | alpha x lambda_max | term norms / abs v, j = 1 .. terms |")
    print("|---|---|---|---|---|")
    for row in probe.rows:
        for alpha, norms in row["norms"].items():
            shown = " ".join(f"{n:.3g}" for n in norms)
            print(f"| {row['epoch']} | {row['lambda_max']:.1f} | {alpha} | {alpha * row['lambda_max']:.2f} | {shown} |")
    last = probe.rows[-1]["lambda_max"]
    print(f"neumann_lambda_max={last:.1f}  largest_safe_alpha={2 / abs(last):.3f}")


if __name__ == "__main__":
    main()
