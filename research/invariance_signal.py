"""Which ops is the data invariant to? Affinity's cost against a two-sample test of the model's features.

    python research/invariance_signal.py --dataset rotated_digits --train-subset 300 --epochs 25 --seed 0

Trains the learning benchmark's recipe without augmentation for ``--epochs`` (a burn-in), then, on the validation
split, probes each op of the controller's set at the affinity objective's levels and prints, per (op, level):

- ``cost``: affinity's relative drop of the true class's summed probability (clean reference);
- ``change``: the mean absolute pixel change (what the ``invariance`` weighting multiplies by);
- ``shift``: how far the op moves the mean of the model's penultimate features, per class, relative to the spread of
  those features: ``sum_c n_c ||mean(f(T x) - f(x) | c)||^2 / sum ||f(x) - mean(f | c)||^2``, with each class's
  sampling noise taken off (an unbiased estimate; about 0 where ``T x`` is distributed as ``x`` is, whatever each
  single image does). An op the data already varies by moves images around within the distribution, not out of it.

``cost_rt`` and ``shift_rt`` are the same against the round trip (the op and then its inverse) for geometric ops,
as ``reference="resampled"`` measures. Then each op's kept magnitude both ways the affinity objective can judge
(``contiguous``: leading tolerated levels only; or the largest tolerated level). Last line:
``rotate_kept_contiguous=<m> rotate_kept=<m>``. Rotations of 90 and 180 degrees (levels 1/2 and 1 of a 180-degree
range) move pixels exactly; those between resample them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from script_setup import fit_without_augmentation, ignore_expected_warnings, loader_tensors  # noqa: E402

from augmeta.meta import MetaNetwork, default_ops  # noqa: E402
from augmeta.ops import OPS  # noqa: E402
from augmeta.policy import StepDraw, apply_step  # noqa: E402
from augmeta.policy.sampler import OP_NAMES  # noqa: E402

LEVELS = tuple(2.0 ** (k - 5) for k in range(1, 6))
TOLERANCE = 0.05


def probe(images: torch.Tensor, op: str, value: torch.Tensor) -> torch.Tensor:
    n = len(images)
    draw = StepDraw(torch.full((n,), OP_NAMES.index(op)), torch.ones(n), value, torch.rand(n, 2))
    return apply_step(images, draw, (0.0,), "bilinear")


def features_and_logits(model: torch.nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    head = next(m for name, m in model.named_modules() if name.endswith("head"))
    seen = []
    hook = head.register_forward_hook(lambda _m, args, _out: seen.append(args[0].detach()))
    try:
        with torch.no_grad():
            logits = model(images)
    finally:
        hook.remove()
    return seen[0].float(), logits.float()


def shift(delta: torch.Tensor, clean: torch.Tensor, labels: torch.Tensor) -> float:
    """Per class, the squared norm of the mean feature change less its sampling noise, over the features' spread."""
    moved, spread = 0.0, 0.0
    for c in labels.unique():
        d, f = delta[labels == c], clean[labels == c]
        n = len(d)
        if n < 2:
            continue
        mean = d.mean(0)
        noise = ((d - mean) ** 2).sum(1).mean() / (n - 1)
        moved += n * float((mean**2).sum() - noise)
        spread += float(((f - f.mean(0)) ** 2).sum())
    return moved / spread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="rotated_digits")
    parser.add_argument("--train-subset", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=4, help="draws per validation image and cell")
    args = parser.parse_args()
    ignore_expected_warnings()
    torch.set_num_threads(1)
    module, data = fit_without_augmentation(args.dataset, args.seed, args.epochs, args.train_subset or None)
    images, labels = loader_tensors(data.val_dataloader())
    model = module.model.eval()
    ops = [op for op in (*default_ops(1), "invert") if op != "identity"]
    meta = MetaNetwork(ops=["identity", *ops], ranges={"rotate": [0.0, 180.0]})
    images, labels = images.repeat(args.repeats, 1, 1, 1), labels.repeat(args.repeats)
    generator = torch.Generator().manual_seed(args.seed)
    clean_f, clean_logits = features_and_logits(model, images)
    p_clean = torch.softmax(clean_logits, 1).gather(1, labels[:, None]).sum()
    print(f"{args.dataset}, {args.train_subset} training images, seed {args.seed}, {args.epochs} epochs, "
          f"{len(images) // args.repeats} validation images x {args.repeats}")  # fmt: skip
    print(f"{'op':14s} {'level':>6s} {'cost':>7s} {'change':>7s} {'shift':>7s} {'cost_rt':>7s} {'shift_rt':>7s}")
    costs: dict[str, list[float]] = {}
    for op in ops:
        index = meta.ops.index(op)
        lo, hi, signed = float(meta.range_lo[index]), float(meta.range_hi[index]), bool(meta.signed[index])
        for level in LEVELS if OPS[op].has_magnitude else (0.0,):
            sign = torch.where(torch.rand(len(images), generator=generator) < 0.5, -1.0, 1.0) if signed else 1.0
            value = torch.full((len(images),), lo + level * (hi - lo)) * sign
            probed = probe(images, op, value)
            f, logits = features_and_logits(model, probed)
            cost = float(1.0 - torch.softmax(logits, 1).gather(1, labels[:, None]).sum() / p_clean)
            change = float((probed - images).abs().mean())
            moved = shift(f - clean_f, clean_f, labels)
            if OPS[op].kind == "geometric":  # against the round trip: the same blur, no change of pose
                back_f, back_logits = features_and_logits(model, probe(probed, op, -value))
                p_back = torch.softmax(back_logits, 1).gather(1, labels[:, None]).sum()
                cost_r = float(1.0 - torch.softmax(logits, 1).gather(1, labels[:, None]).sum() / p_back)
                moved_r = shift(f - back_f, back_f, labels)
            else:
                cost_r, moved_r = cost, moved
            print(f"{op:14s} {level:6.3f} {cost:7.3f} {change:7.3f} {moved:7.3f} {cost_r:7.3f} {moved_r:7.3f}")
            costs.setdefault(op, []).append(cost)
    print("\nkept magnitude per op (0: dropped), leading levels only / largest tolerated level:")
    verdicts = {}
    for op, row in costs.items():
        levels = LEVELS if OPS[op].has_magnitude else (1.0,)
        passed = [c <= TOLERANCE for c in row]
        leading = next((i for i, ok in enumerate(passed) if not ok), len(passed))
        largest = max((i + 1 for i, ok in enumerate(passed) if ok), default=0)
        verdicts[op] = (levels[leading - 1] if leading else 0.0, levels[largest - 1] if largest else 0.0)
        print(f"  {op:14s} {verdicts[op][0]:6.3f} {verdicts[op][1]:6.3f}")
    contiguous, gaps = verdicts["rotate"]
    print(f"rotate_kept_contiguous={contiguous:g} rotate_kept={gaps:g}")


if __name__ == "__main__":
    main()
