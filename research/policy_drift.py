"""Did the controller learn anything? How far learned policies moved from the policy their runs started from.

    python research/policy_drift.py results.json [more.json | policy.json ...] \\
        --start-identity 0.5 --start-magnitude 0.3

Reads policy files, or results files of ``bench/accuracy.py`` (the ``policy_file`` of each joint run), and compares
each op's probability and magnitude (averaged over a policy's steps and sub-policies) with the start a
:class:`augmeta.meta.MetaNetwork` with those ``init_identity`` / ``init_magnitude`` has. A run is one sample: the
table gives each op's mean over the runs, its standard error and ``t = (mean - start) / s.e.``. A controller with a
signal moves the same way in every run (|t| of 3 and more); one that only follows the noise of its gradients
spreads around the start (|t| about 1). Prints the table and last ``drift_max_abs_t=<t>`` with the op it belongs to.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

from augmeta.export.plan import plan_policy
from augmeta.meta import MetaNetwork
from augmeta.ops import OPS
from augmeta.policy import Policy, load_policy


def policy_files(paths: list[Path]) -> list[Path]:
    """The policy files ``paths`` name: each a policy file, or a results file whose rows name theirs."""
    files = []
    for path in paths:
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "results" in data:
            named = [Path(row["policy_file"]) for row in data["results"] if row.get("policy_file")]
            missing = [str(p) for p in named if not p.is_file()]
            if missing:
                raise FileNotFoundError(f"{path}: these runs' policy files should exist, but do not: {missing}")
            files.extend(named)
        else:
            files.append(path)
    if not files:
        raise ValueError(f"{[str(p) for p in paths]} should name at least one policy file, but name none.")
    return files


def op_profile(policy: Policy) -> dict[str, tuple[float, float | None]]:
    """Each op's probability and (normalised, upper end of its draw) magnitude, averaged over steps and
    sub-policies weighted by their weight; a step that does not fire (``p`` < 1) counts as identity. The magnitude is
    None for ops without one (identity, equalize). Read from :func:`augmeta.export.plan.plan_policy`, whose weights
    are normalised as the sampler draws them."""
    weight: dict[str, float] = {}
    weighted_magnitude: dict[str, float] = {}
    for sub in plan_policy(policy).subpolicies:
        for step in sub.steps:
            share = sub.probability / len(sub.steps)
            weight["identity"] = weight.get("identity", 0.0) + share * (1.0 - step.p)  # the step does not fire
            for choice in step.choices:
                probability = share * step.p * choice.probability
                weight[choice.op] = weight.get(choice.op, 0.0) + probability
                if OPS[choice.op].has_magnitude:
                    high = choice.magnitudes[1]
                    weighted_magnitude[choice.op] = weighted_magnitude.get(choice.op, 0.0) + probability * high
    return {
        op: (w, weighted_magnitude[op] / w if op in weighted_magnitude and w > 0 else None) for op, w in weight.items()
    }


def start_profile(ops: list[str], init_identity: float, init_magnitude: float) -> dict:
    """The op profile of a meta-network over ``ops`` before its first update."""
    network = MetaNetwork(ops=ops, num_steps=1, init_identity=init_identity, init_magnitude=init_magnitude)
    return op_profile(network.to_policy("start", min_weight=0.0))


def drift_rows(profiles: list[dict], start: dict) -> list[dict]:
    """Per op and quantity: the start, the mean over runs, its standard error and t. An op a run's file left out
    (pruned below the export's minimum weight) counts as probability 0 there."""
    rows = []
    for op, (start_weight, start_magnitude) in start.items():
        for quantity, index, reference in (("probability", 0, start_weight), ("magnitude", 1, start_magnitude)):
            if reference is None:
                continue
            values = [p.get(op, (0.0, None))[index] for p in profiles]  # absent: probability 0, no magnitude
            values = [v for v in values if v is not None]
            if not values:
                continue
            mean = statistics.fmean(values)
            error = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
            if error > 1e-9:
                t = (mean - reference) / error
            elif len(values) < 2:  # one run: no spread to compare with
                t = float("nan")
            else:  # every run at the same value (files keep 6 digits)
                t = 0.0 if abs(mean - reference) < 1e-5 else math.copysign(math.inf, mean - reference)
            rows.append({"op": op, "quantity": quantity, "start": reference, "mean": mean, "error": error, "t": t})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", type=Path, nargs="+", help="policy files or bench/accuracy.py results files")
    parser.add_argument("--start-identity", type=float, default=0.5, help="the runs' init_identity")
    parser.add_argument("--start-magnitude", type=float, default=0.3, help="the runs' init_magnitude")
    args = parser.parse_args()
    profiles = [op_profile(load_policy(path)) for path in policy_files(args.files)]
    ops = sorted({op for profile in profiles for op in profile} | {"identity"})
    start = start_profile(ops, args.start_identity, args.start_magnitude)
    rows = drift_rows(profiles, start)
    print(f"{len(profiles)} runs; start: identity {args.start_identity}, magnitude {args.start_magnitude}\n")
    print("| op | quantity | start | mean over runs | s.e. | t |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['op']} | {row['quantity']} | {row['start']:.3f} | {row['mean']:.3f} | {row['error']:.3f} "
            f"| {row['t']:+.1f} |"
        )
    finite = [row for row in rows if not math.isnan(row["t"])]
    if not finite:
        print("\ndrift_max_abs_t=nan  (one run: no spread to compare with)")
        return
    top = max(finite, key=lambda row: abs(row["t"]))
    change = f"{top['op']} {top['quantity']}: {top['start']:.3f} -> {top['mean']:.3f}"
    print(f"\ndrift_max_abs_t={abs(top['t']):.1f}  ({change})")


if __name__ == "__main__":
    main()
