"""Paired differences between two sets of ``bench/accuracy.py`` runs, each a method under its own settings.

    python research/paired.py --dataset fashion_mnist_4k --augment-until 0.8 \\
        --a augmeta-joint '{"objective": "implicit"}' research/results/results_accuracy_cpu_round10_implicit.json \\
        --b augmeta-frozen '{}' research/results/results_accuracy_cpu_round8.json

``--report`` of ``bench/accuracy.py`` compares methods under one ``--meta``; this compares runs of different
controller settings (an objective against the default, against the frozen start). Each side keeps the rows that
``bench/accuracy.py --report`` would keep for its method and settings (``--augment-until``, ``--meta-size`` and
``--epochs`` shared), and the seeds both ran are paired. Prints each seed's test and validation accuracy of both
sides and last ``a_minus_b test=<pp> +/- <pp>  val=<pp> +/- <pp>  (<n> seeds; +/- standard error)``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))  # bench/'s modules, as its scripts import them

from accuracy import RECIPES, count_or_fraction, kept_accuracies


def side(given: list[str], which: str) -> tuple[str, dict, list[Path]]:
    """``METHOD SETTINGS FILE [FILE ...]`` of ``--a`` / ``--b``."""
    if len(given) < 3:
        raise SystemExit(f"--{which} should be METHOD SETTINGS FILE [FILE ...], but got {given!r}.")
    method, settings, *files = given
    try:
        meta = json.loads(settings)
    except json.JSONDecodeError as error:
        raise SystemExit(f"--{which}: the settings should be a JSON object, but got {settings!r} ({error}).") from None
    return method, meta, [Path(f) for f in files]


def seed_results(
    given: list[str], which: str, dataset: str, augment_until: float, epochs: int | None, meta_size
) -> dict[int, tuple[float, float]]:
    """Seed -> (test %, val %) of one side's kept runs."""
    method, meta, files = side(given, which)
    results = kept_accuracies(files, dataset, method, meta, augment_until, epochs, meta_size)
    if not results:
        raise SystemExit(f"--{which}: no {method} runs on {dataset} with settings {meta} in {[str(f) for f in files]}.")
    return results


def paired(a: dict[int, tuple[float, float]], b: dict[int, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """``{"test": (mean, s.e.), "val": (mean, s.e.)}`` of ``a - b`` over the seeds both have (s.e. nan below 2)."""
    seeds = sorted(a.keys() & b.keys())
    if not seeds:
        raise SystemExit("--a and --b have no seed in common.")
    out = {}
    for index, name in enumerate(("test", "val")):
        differences = [a[s][index] - b[s][index] for s in seeds]
        error = statistics.stdev(differences) / len(seeds) ** 0.5 if len(seeds) > 1 else float("nan")
        out[name] = (statistics.fmean(differences), error)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=sorted(RECIPES))
    parser.add_argument("--augment-until", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--meta-size", type=count_or_fraction, default=None)
    parser.add_argument("--a", nargs="+", required=True, metavar="ARG", help="METHOD SETTINGS FILE [FILE ...]")
    parser.add_argument("--b", nargs="+", required=True, metavar="ARG", help="METHOD SETTINGS FILE [FILE ...]")
    args = parser.parse_args()
    common = (args.dataset, args.augment_until, args.epochs, args.meta_size)
    a, b = seed_results(args.a, "a", *common), seed_results(args.b, "b", *common)
    print(f"a: {' '.join(args.a[:2])}  b: {' '.join(args.b[:2])}  ({args.dataset}, augment_until {args.augment_until})")
    print("| seed | a test % | b test % | a val % | b val % |")
    print("|---|---|---|---|---|")
    for seed in sorted(a.keys() & b.keys()):
        print(f"| {seed} | {a[seed][0]:.2f} | {b[seed][0]:.2f} | {a[seed][1]:.2f} | {b[seed][1]:.2f} |")
    result = paired(a, b)
    (test, test_se), (val, val_se) = result["test"], result["val"]
    seeds = len(a.keys() & b.keys())
    print(f"a_minus_b test={test:+.2f} +/- {test_se:.2f}  val={val:+.2f} +/- {val_se:.2f}  ({seeds} seeds; +/- s.e.)")


if __name__ == "__main__":
    main()
