"""Which joint run's policy goes into ``policies/learned/``: the one with the best validation accuracy.

    python research/pick_learned.py RESULTS.json [RESULTS.json ...] --dataset fashion_mnist_4k --augment-until 0.8
        --policy-files 'DIR/fashion_mnist_4k_until08_augmeta-joint_seed{seed}.json' [more patterns]
        --name NAME --out policies/learned/NAME.json

Reads ``bench/accuracy.py`` results files, keeps the ``augmeta-joint`` runs of one data set and recipe that
``bench/accuracy.py --report`` keeps (the given ``augment_until``, the recipe's epochs, today's controller defaults,
no meta split; the first row of each run), and picks the run with the highest validation accuracy (ties: the lowest
seed), never by test accuracy, which so stays a fair estimate of the picked file. Its policy file is the first
pattern's ``{seed}`` that exists (the runs' own files live in temporary folders and were copied by seed). The copy
gets the name, a description and, in its provenance, the recipe and what its runs measured: the joint run's
``val_acc`` and ``test_acc``, and those of the ``augmeta-retrain`` run of the same seed where there is one. Prints
every candidate and last ``picked_seed=<k> val_acc=<v> test_acc=<t>``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))  # bench/'s modules, as its scripts import them

from accuracy import kept_accuracies

from augmeta.policy import Policy, load_policy


def recipe_rows(results: list[Path], dataset: str, method: str, augment_until: float) -> dict[int, dict]:
    """Seed -> ``{"seed", "val_acc", "test_acc"}`` of ``method``'s runs on ``dataset`` at ``augment_until`` under the
    default controller: the runs ``bench/accuracy.py --report`` keeps for that recipe (its epochs, today's controller
    defaults, no meta split; the first row of each run)."""
    kept = kept_accuracies(results, dataset, method, {}, augment_until)
    return {seed: {"seed": seed, "test_acc": test, "val_acc": val} for seed, (test, val) in kept.items()}


def policy_file(patterns: list[str], seed: int) -> Path:
    """The first of ``patterns`` (each with ``{seed}``) that names an existing file for ``seed``."""
    candidates = [Path(pattern.format(seed=seed)) for pattern in patterns]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"seed {seed}'s policy file should be one of {[str(c) for c in candidates]}, but none exists."
    )


def learned_policy(
    source: Policy, name: str, dataset: str, augment_until: float, joint: dict, retrain: dict | None
) -> Policy:
    """``source`` renamed, with the recipe and the measured accuracies of its runs in its provenance."""
    metrics = {"joint_val_acc": round(joint["val_acc"], 2), "joint_test_acc": round(joint["test_acc"], 2)}
    if retrain is not None:
        metrics.update(retrain_val_acc=round(retrain["val_acc"], 2), retrain_test_acc=round(retrain["test_acc"], 2))
    notes = (
        f"bench/accuracy.py recipe {dataset}, --augment-until {augment_until}, seed {joint['seed']}: the joint run "
        f"with the best validation accuracy of its recipe's seeds (research/pick_learned.py). {source.provenance.notes}"
    )
    provenance = source.provenance.model_copy(update={"metrics": metrics, "notes": notes})
    description = f"Learned by augmeta during one training run on {dataset} (bench/accuracy.py's recipe)."
    return source.model_copy(update={"name": name, "description": description, "provenance": provenance})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="results files of bench/accuracy.py")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--augment-until", type=float, default=1.0)
    parser.add_argument("--policy-files", nargs="+", required=True, help="patterns with {seed}, tried in order")
    parser.add_argument("--name", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    joint = recipe_rows(args.results, args.dataset, "augmeta-joint", args.augment_until)
    if not joint:
        raise SystemExit(
            f"no augmeta-joint rows of {args.dataset} at --augment-until {args.augment_until} in the files"
        )
    retrain = recipe_rows(args.results, args.dataset, "augmeta-retrain", args.augment_until)
    print("| seed | joint val % | joint test % | retrain val % | retrain test % |")
    print("|---|---|---|---|---|")
    for seed, row in sorted(joint.items()):
        other = retrain.get(seed)
        rest = f"{other['val_acc']:.2f} | {other['test_acc']:.2f}" if other else "- | -"
        print(f"| {seed} | {row['val_acc']:.2f} | {row['test_acc']:.2f} | {rest} |")
    best = max(joint.values(), key=lambda row: (row["val_acc"], -row["seed"]))
    source = load_policy(policy_file(args.policy_files, best["seed"]))
    picked = learned_policy(source, args.name, args.dataset, args.augment_until, best, retrain.get(best["seed"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    picked.save(args.out)
    print(f"picked_seed={best['seed']} val_acc={best['val_acc']:.2f} test_acc={best['test_acc']:.2f}")


if __name__ == "__main__":
    main()
