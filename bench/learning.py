"""Does the controller learn? Planted-structure tasks where the right policy is known, every arm under one recipe.

    python bench/learning.py                                     # every task, 10 seeds (2-core CPU: about an hour)
    python bench/learning.py --tasks harmful --seeds 3 --out r.json --resume
    python bench/learning.py --report a.json b.json              # the table of runs written before

Tasks (digits-sized, so a run takes seconds on a CPU; the ``_fashion_mnist`` variants use 4,000 training images):
- ``harmful``: plain digits, but the controller is offered ops that make images the test set never holds (both flips,
  inversion, rotations up to 180 degrees): the learner must drop them.
- ``rotated``: every training and test digit turned by its own angle (LILA's rotated MNIST): the learner must keep
  rotations, at a large range. ``rotated_300``: the same from 300 training images, which do not already hold every
  pose, so turns pay.
- ``upside_down``: five digits, upright or upside down (+/- 25 degrees of jitter), are ten classes: rotations past
  the boundary and vertical flips change the label, so the learned rotation range must stay below it.
- ``plain``, ``plain_fashion_mnist``: digits, and 4,000 Fashion-MNIST images, with the controller's default ops,
  where it must not do worse than its start.

Arms: ``none``, ``randaugment``, ``trivialaugment``, ``uniform`` (the controller's op set, uniform, full ranges),
``frozen`` (the joint run with the controller never moving: ``rate`` 0), ``joint`` (the affinity objective learning
in the run), ``control`` (the joint run with its signal sign-flipped: it must not beat the frozen start),
``retrain`` (a fresh model with the policy file the joint run exported), and ``oracle``: the best, on
the validation split, of a small grid of fixed policies over the same ops (which ops, what rotation range). Each
prints test accuracy (mean +/- std over seeds), the joint runs' learned policy, and last one line per task:
``<task>: learned_minus_frozen=<pp> +/- <s.e.> recovered=<fraction> seeds=<n>``, where ``recovered`` is the share
of the frozen-to-oracle gap the joint run closes, from means over the seeds all three ran. Every arm trains with the
crop only as its base recipe (flips are among the ops the arms differ in).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytorch_lightning as pl
import torch
from script_setup import fit_and_test, ignore_expected_warnings, quiet_trainer

from augmeta import load_policy
from augmeta.datasets.specs import DIGITS_TURNED_ITEMS
from augmeta.lightning import AugDataModule, AugMetaModule
from augmeta.meta import MetaNetwork, default_ops
from augmeta.utils import atomic_write_text

#: What the harmful task adds to the controller's default ops for grey images: inversion, and rotations to 180.
HARMFUL_OPS = [*default_ops(1), "invert"]
WIDE_ROTATION = {"rotate": [0.0, 180.0]}
#: Ops no grid policy offers on digits: they change or hide what the labels are.
DIGIT_DESTROYING = ("flip_x", "flip_y", "invert")


@dataclass(frozen=True)
class Task:
    dataset: str
    meta_ops: list[str] = field(default_factory=lambda: list(default_ops(1)))
    meta_ranges: dict = field(default_factory=dict)
    controller: dict = field(default_factory=dict)  # the controller's settings over the arms' (frozen or not)
    dose: float | None = None  # the start's probability per step of the ``destroying`` ops (None: the default start)
    class_safe: dict = field(default_factory=dict)  # op -> the classes it is safe for (the per-class oracle's tree)
    class_rest: dict = field(default_factory=dict)  # op -> the range the per-class oracle gives the other classes
    destroying: tuple[str, ...] = DIGIT_DESTROYING  # ops the oracle's grid leaves out
    train_subset: int | None = None
    epochs: int = 20
    batch_size: int = 64
    width: int = 16
    lr: float = 0.05
    crop_padding: int = 1


TASKS = {
    # the start draws a flip or an inversion at half the steps (the smallest dose of the dose-response whose frozen
    # start is over 1 pp below the oracle on validation; ``harmful_dose*``: the other doses)
    "harmful": Task("digits", HARMFUL_OPS, WIDE_ROTATION, dose=0.5),
    "rotated": Task("rotated_digits", HARMFUL_OPS, WIDE_ROTATION),
    "upside_down": Task("upside_down_digits", HARMFUL_OPS, WIDE_ROTATION),
    # rotated digits with 300 training images (100 epochs: about as many steps as the others): the data alone
    # cannot teach the invariance, and turns pay (the needed invariance with headroom)
    "rotated_300": Task("rotated_digits", HARMFUL_OPS, WIDE_ROTATION, train_subset=300, epochs=100),
    "plain": Task("digits"),
    # the meta-tree's task: flipping is safe for six digits (mirrored at random in the data) and changes the label
    # of the other two (as written / mirrored: four classes)
    "mirrored": Task(
        "mirrored_digits", destroying=("flip_y",), class_safe={"flip_x": (0, 1, 2, 3, 4, 5)}
    ),
    # the same with 300 training images: augmentation matters more where data are scarce
    "mirrored_300": Task(
        "mirrored_digits", destroying=("flip_y",), class_safe={"flip_x": (0, 1, 2, 3, 4, 5)}, train_subset=300
    ),
    # the meta-tree's task with rotation: five digits turned at random (rotation safe and needed), five upright (a
    # turn only makes images the data never holds; a turned 6 reads as a 9)
    "turned": Task("turned_digits", meta_ranges=WIDE_ROTATION, class_safe={"rotate": DIGITS_TURNED_ITEMS}),
    # the meta-tree's task with a label at stake: six digits turned over the whole circle (rotation safe and
    # needed), two upright or upside down (four classes: a turn past 90 degrees changes the label), 300 training
    # images (100 epochs), where turns pay
    "oriented_300": Task(
        "oriented_digits", HARMFUL_OPS, WIDE_ROTATION, class_safe={"rotate": (0, 1, 2, 3, 4, 5)},
        class_rest={"rotate": [0.0, 30.0]}, train_subset=300, epochs=100,
    ),
    # the meta-tree's task at Fashion-MNIST's size: six clothes mirrored at random, sneakers and ankle boots as
    # they are (pointing left) or mirrored (four classes)
    "mirrored_fashion_mnist": Task(
        "mirrored_fashion_mnist", destroying=("flip_y",), class_safe={"flip_x": (0, 1, 2, 3, 4, 5)},
        train_subset=4000, epochs=15, batch_size=128, lr=0.1, crop_padding=2,
    ),
    "plain_fashion_mnist": Task(
        "fashion_mnist", train_subset=4000, epochs=15, batch_size=128, lr=0.1, crop_padding=2, destroying=("flip_y",)
    ),
    "harmful_fashion_mnist": Task(
        "fashion_mnist", HARMFUL_OPS, WIDE_ROTATION, train_subset=4000, epochs=15, batch_size=128, lr=0.1,
        crop_padding=2, destroying=("flip_y", "invert"),
    ),
    "rotated_fashion_mnist": Task(
        "rotated_fashion_mnist", HARMFUL_OPS, WIDE_ROTATION, train_subset=4000, epochs=15, batch_size=128, lr=0.1,
        crop_padding=2, destroying=("invert",),
    ),
}  # fmt: skip
#: The dose-response of the harmful task: the start's probability of a destroying op per step (``harmful``: 0.5).
DOSES = {"harmful_dose0": 0.0, "harmful_dose10": 0.1, "harmful_dose30": 0.3, "harmful": 0.5}
TASKS.update({name: Task(**{**TASKS["harmful"].__dict__, "dose": dose}) for name, dose in DOSES.items()})
DEFAULT_TASKS = ["harmful", "rotated", "upside_down", "rotated_300", "plain"]
ARMS = [
    "none", "randaugment", "trivialaugment", "uniform", "frozen", "joint", "control", "joint_diversity",
    "joint_tolerance02", "retrain", "oracle", "joint_class", "tree", "class_oracle", "joint_readmit",
    "joint_averaged", "joint_accuracy", "joint_resampled", "joint_trials", "joint_trials_resampled",
    "joint_contiguous",
]  # fmt: skip
#: Arms without a controller: the dose (the controller's start) does not change them.
FIXED_ARMS = ("none", "randaugment", "trivialaugment", "uniform")
#: The controller's settings of each learned arm, over the task's: ``frozen`` never moves from its start;
#: ``joint_diversity`` weights the kept ops by their change alone (the other ``weighting``).
JOINT_SETTINGS = {
    "frozen": {"objective_args": {"rate": 0.0}},
    "joint": {},
    "joint_diversity": {"objective_args": {"weighting": "diversity"}},
    "joint_tolerance02": {"objective_args": {"tolerance": 0.02}},
    "joint_class": {"meta_mode": "class"},
    "joint_contiguous": {"objective_args": {"contiguous": True}},  # the verdict rule before 2026-12-07
    "joint_readmit": {"objective_args": {"readmit": True}},
    "joint_averaged": {"objective_args": {"averaged": True}},
    "joint_accuracy": {"objective_args": {"measure": "accuracy"}},
    "joint_resampled": {"objective_args": {"reference": "resampled"}},
    "joint_trials": {"policy_trials": 0.25},
    "joint_trials_resampled": {"policy_trials": 0.25, "objective_args": {"reference": "resampled"}},
}
#: The tree arms: a fresh model trained with the meta-tree of the class-mode arm named.
TREE_SOURCES = {"tree": "joint_class"}
#: The oracle's grid: the rotation ranges its candidates offer.
ORACLE_ROTATIONS = (30.0, 180.0)
DATA_DIR: str | None = None  # --data-dir: where the base data set's files are (default: the usual places)


def _policy_file(ops: list[str], ranges: dict, name: str, identity: float, magnitude: float) -> str:
    """A fixed policy of two steps (as the controller has) over ``ops``: ``identity`` the probability of no op, the
    rest uniform over the others, each magnitude uniform up to ``magnitude`` of its range (rotation: all of it)."""
    network = MetaNetwork(ops=ops, ranges=ranges, init_identity=identity, init_magnitude=magnitude)
    if "rotate" in ops:
        with torch.no_grad():
            network.magnitude_logits[..., ops.index("rotate")] = 7.0  # sigmoid: 0.999
    path = Path(tempfile.mkdtemp(prefix="augmeta-learning-")) / f"{name}.json"
    network.to_policy(name, min_weight=0.0).save(path)
    return str(path)


def uniform_policy(task: Task) -> str:
    """The controller's op set, uniform (identity one op among them), at full ranges."""
    return _policy_file(task.meta_ops, task.meta_ranges, "uniform", 1.0 / len(task.meta_ops), 0.999)


def oracle_policies(task: Task) -> dict[str, str | None]:
    """The grid: no augmentation; rotation alone up to 30 or 180 degrees; and the label-keeping ops at the
    controller's starting strength (half the steps, magnitudes up to 0.3) with rotation up to 30 or 180 degrees."""
    kept = [op for op in task.meta_ops if op not in task.destroying and op != "rotate"]
    grid: dict[str, str | None] = {"none": None}
    for degrees in ORACLE_ROTATIONS:
        ranges = {"rotate": [0.0, degrees]}
        grid[f"rotate{degrees:.0f}"] = _policy_file(["identity", "rotate"], ranges, f"rotate{degrees:.0f}", 0.5, 0.999)
    for degrees in ORACLE_ROTATIONS:
        ranges = {"rotate": [0.0, degrees]}
        grid[f"mild_rotate{degrees:.0f}"] = _policy_file([*kept, "rotate"], ranges, f"mild{degrees:.0f}", 0.5, 0.3)
    return grid


def dose_start(meta: MetaNetwork, destroying: tuple[str, ...], dose: float) -> None:
    """Set the controller's start so that each step draws one of the ``destroying`` ops with probability ``dose``
    (shared equally), ``identity`` with half the rest and every other op an equal share of the other half."""
    harmful = [op for op in meta.ops if op in destroying]
    others = [op for op in meta.ops if op not in destroying and op != "identity"]
    probs = torch.zeros(len(meta.ops))
    for op in harmful:
        probs[meta.ops.index(op)] = dose / len(harmful)
    for op in others:
        probs[meta.ops.index(op)] = (1.0 - dose) / 2 / len(others)
    probs[meta.ops.index("identity")] = (1.0 - dose) / 2
    with torch.no_grad():
        meta.op_logits.copy_(probs.clamp_min(1e-6).log().expand_as(meta.op_logits))


def class_oracle_tree(task: Task) -> str:
    """The per-class oracle: a meta-tree that gives the classes each ``class_safe`` op suits that op at half the
    steps (full range) and every other class no augmentation (the plain digits' best), or, where ``class_rest``
    names an op, that op at half the steps up to its range there (a bound the other classes' labels need)."""
    from augmeta.meta.tree import MetaTree

    nodes, policies = [], []
    for index, (op, classes) in enumerate(task.class_safe.items()):
        left, right = len(nodes) + 1, len(nodes) + 2
        nodes += [{"kind": "split", "feature": "label", "classes": list(classes), "left": left, "right": right}]
        nodes += [{"kind": "leaf", "policy": len(policies)}]
        ranges = {op: task.meta_ranges[op]} if op in task.meta_ranges else {}  # the controller's range
        policies.append(load_policy(_policy_file(["identity", op], ranges, f"{op}_half", 0.5, 0.999)).to_dict())
        if index == len(task.class_safe) - 1:
            nodes += [{"kind": "leaf", "policy": len(policies)}]
            if task.class_rest:  # the other classes: the ``class_rest`` ops at half the steps, up to their ranges
                name = "_".join(task.class_rest) + "_rest"
                rest = _policy_file(["identity", *task.class_rest], dict(task.class_rest), name, 0.5, 0.999)
                policies.append(load_policy(rest).to_dict())
            else:
                identity = {"op": "identity", "weight": 1.0, "range": None, "signed": False}
                steps = [{"p": 1.0, "ops": [identity]}]
                policies.append({**policies[0], "name": "none", "subpolicies": [{"steps": steps}]})
    tree = MetaTree.from_dict(
        {
            "schema_version": 1, "name": "class_oracle", "num_classes": 10, "nodes": nodes, "policies": policies,
            "provenance": {"source": "bench/learning.py", "method": "per-class oracle"},
        }
    )  # fmt: skip
    return str(tree.save(Path(tempfile.mkdtemp(prefix="augmeta-learning-")) / "class_oracle.json"))


def sign_flipped(objective) -> None:
    """The control: the objective reads every cost with its sign flipped, so every op passes the tolerance at its
    whole range and the ops the model reads worst get the most weight. A signal that learns must do worse with it."""
    costs = objective.costs
    objective.costs = lambda other=False: -costs(other)


def run_one(task: Task, policy: str, seed: int, controller: dict | None = None, control: bool = False) -> dict:
    """Train and test one run; ``policy`` is a fixed policy's name or file, or ``augmeta`` with ``controller``
    (``control``: its objective's signal sign-flipped)."""
    pl.seed_everything(seed, workers=True, verbose=False)
    data = AugDataModule(
        task.dataset, data_dir=DATA_DIR, batch_size=task.batch_size, train_subset=task.train_subset, seed=seed
    )
    learned = {"meta_ops": task.meta_ops, "meta_ranges": task.meta_ranges or None, "objective": "affinity"}
    learned.update(task.controller)
    module = AugMetaModule(
        policy=policy,
        width=task.width,
        lr=task.lr,
        crop_padding=task.crop_padding,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        flip=False,  # one recipe for every arm, the crop only: flips are among the ops the arms differ in
        **({**learned, **(controller or {})} if policy == "augmeta" else {}),
    )
    if policy == "augmeta" and task.dose is not None:
        dose_start(module.meta, task.destroying, task.dose)
    if control:
        sign_flipped(module.objective)
    trainer = quiet_trainer(max_epochs=task.epochs, check_val_every_n_epoch=task.epochs)
    result = {"seed": seed, **fit_and_test(trainer, module, data)}
    if policy == "augmeta":
        path = Path(tempfile.mkdtemp(prefix="augmeta-learning-")) / f"joint_seed{seed}.json"
        module.current_policy(name=f"{task.dataset}_seed{seed}").save(path)
        result["policy_file"] = str(path)
        tree = module.meta_tree(name=f"{task.dataset}_seed{seed}_tree")
        if tree is not None:
            result["tree_file"] = str(tree.save(path.with_name(f"tree_seed{seed}.json")))
            result["fidelity"] = tree.fidelity
            for op in task.class_safe or {"flip_x": ()}:
                result[f"per_class_{op}"], result[f"per_class_m_{op}"] = _per_class(module, op)
        result["policy"] = {k.split("/", 1)[1]: round(v, 4) for k, v in module.policy_summary().items()}
        if getattr(module.objective, "trial_losses", None):
            result["trials"] = {name: [round(v, 4) for v in row] for name, row in module.objective.trial_losses.items()}
    return result


def _per_class(module: AugMetaModule, op: str) -> tuple[list[float], list[float]]:
    """The class-mode controller's chance per step of ``op``, and its magnitude (a fraction of the range), per
    class."""
    meta = module.meta
    labels = torch.arange(meta.num_classes)
    _, ops, magnitudes = meta.distribution(labels=labels)
    index = meta.ops.index(op)
    chance = torch.softmax(ops, dim=-1)[..., index].mean(dim=(1, 2))
    magnitude = magnitudes[..., index].mean(dim=(1, 2))
    return [round(v, 4) for v in chance.tolist()], [round(v, 4) for v in magnitude.tolist()]


def run_arm(name: str, task: Task, arm: str, seed: int, results: list[dict]) -> list[dict]:
    """The rows of one (task, arm, seed): one run, or one per grid policy for the oracle."""
    if arm in ("none", "randaugment", "trivialaugment"):
        return [run_one(task, arm, seed)]
    if arm == "uniform":
        return [run_one(task, uniform_policy(task), seed)]
    if arm in JOINT_SETTINGS:
        return [run_one(task, "augmeta", seed, JOINT_SETTINGS[arm])]
    if arm == "control":
        return [run_one(task, "augmeta", seed, control=True)]
    if arm == "retrain":
        joint = next((r for r in results if (r["task"], r["arm"], r["seed"]) == (name, "joint", seed)), None)
        return [] if joint is None else [run_one(task, joint["policy_file"], seed)]
    if arm in TREE_SOURCES:  # a fresh model with the meta-tree the class-mode run wrote
        source = TREE_SOURCES[arm]
        joint = next((r for r in results if (r["task"], r["arm"], r["seed"]) == (name, source, seed)), None)
        return [] if joint is None else [run_one(task, joint["tree_file"], seed)]
    if arm == "class_oracle":  # a task without a class-conditional op has no per-class oracle
        return [run_one(task, class_oracle_tree(task), seed)] if task.class_safe else []
    rows = []
    for candidate, path in oracle_policies(task).items():
        rows.append({**run_one(task, path or "none", seed), "candidate": candidate})
    return rows


# ------------------------------------------------------------------------------------------------------ reporting
def _paired(results: list[dict], task: str, a: str, b: str) -> tuple[float, float, int]:
    """Mean and standard error of (a - b) over the seeds both ran."""
    first = {r["seed"]: r["test_acc"] for r in results if r["task"] == task and r["arm"] == a}
    second = {r["seed"]: r["test_acc"] for r in results if r["task"] == task and r["arm"] == b}
    diffs = [first[s] - second[s] for s in sorted(first.keys() & second.keys())]
    if not diffs:
        return float("nan"), float("nan"), 0
    se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    return statistics.fmean(diffs), se, len(diffs)


def oracle_rows(results: list[dict], task: str) -> list[dict]:
    """The oracle arm: per seed, the grid candidate with the best mean validation accuracy over all seeds."""
    rows = [r for r in results if r["task"] == task and r["arm"] == "oracle"]
    if not rows:
        return []
    by_candidate: dict[str, list[float]] = {}
    for row in rows:
        by_candidate.setdefault(row["candidate"], []).append(row["val_acc"])
    best = max(by_candidate, key=lambda c: statistics.fmean(by_candidate[c]))
    return [{**row, "arm": "oracle*"} for row in rows if row["candidate"] == best]


def report(results: list[dict], tasks: list[str], learned: str = "joint") -> list[str]:
    """The tables, and the last lines, with ``learned`` as the learned arm (``joint``, or an option's arm)."""
    lines = []
    for task in tasks:
        # the dose changes only the controller's start: every dose shares the harmful task's fixed-policy arms
        rows = [r for r in results if r["task"] == task] + oracle_rows(results, "harmful" if task in DOSES else task)
        if task in DOSES and task != "harmful":
            rows += [r for r in results if r["task"] == "harmful" and r["arm"] in FIXED_ARMS]
        if not rows:
            continue
        oracle = next((r["candidate"] for r in rows if r["arm"] == "oracle*"), None)
        print(f"\n### {task} ({TASKS[task].dataset}); oracle: {oracle}\n")
        print("| arm | test acc % (mean +/- std) | val acc % | seeds | seconds |")
        print("|---|---|---|---|---|")
        for arm in [*(a for a in ARMS if a != "oracle"), "oracle*"]:
            chosen = [r for r in rows if r["arm"] == arm]
            if not chosen:
                continue
            tests = [r["test_acc"] for r in chosen]
            spread = statistics.stdev(tests) if len(tests) > 1 else float("nan")
            val = statistics.fmean(r["val_acc"] for r in chosen)
            secs = statistics.fmean(r["seconds"] for r in chosen)
            print(f"| {arm} | {statistics.fmean(tests):.2f} +/- {spread:.2f} | {val:.2f} | {len(tests)} | {secs:.0f} |")
        joint = [r for r in rows if r["arm"] == learned and "policy" in r]
        if joint:
            ops = [k[2:] for k in joint[0]["policy"] if k.startswith("p_")]
            print(f"\n{learned}: learned policy per seed (P(op) per step; m: magnitude as a fraction of the range):")
            for r in joint:
                kept = [f"{op} {r['policy'][f'p_{op}']:.2f}" for op in ops if r["policy"][f"p_{op}"] >= 0.01]
                rotate = r["policy"].get("m_rotate")
                print(f"  seed {r['seed']}: " + ", ".join(kept) + (f"; m_rotate {rotate:.2f}" if rotate else ""))
        classed = [r for r in rows if r["arm"] == "joint_class" and "fidelity" in r]
        if classed:
            for op in (TASKS[task].class_safe if task in TASKS else None) or ["flip_x"]:
                print(
                    f"\nclass-mode controller, P({op}) per step for each class, per seed (tree fidelity; m: magnitude):"
                )
                for r in classed:
                    magnitudes = r.get(f"per_class_m_{op}")
                    print(
                        f"  seed {r['seed']}: "
                        + " ".join(f"{p:.2f}" for p in r.get(f"per_class_{op}", []))
                        + f" ({r['fidelity']:.2f})"
                        + ("; m " + " ".join(f"{m:.2f}" for m in magnitudes) if magnitudes else "")
                    )
            for arm in ("joint_class", "tree", "class_oracle"):
                diff, se, n = _paired(results, task, arm, "joint")
                if n:
                    print(f"{task}: {arm}_minus_joint={diff:.2f} +/- {se:.2f} seeds={n}")
        control = _paired(results, task, "control", "frozen")
        if control[2]:
            print(f"\n{task}: control_minus_frozen={control[0]:.2f} +/- {control[1]:.2f} seeds={control[2]}")
            against = _paired(results, task, "joint", "control")
            print(f"{task}: joint_minus_control={against[0]:.2f} +/- {against[1]:.2f} seeds={against[2]}")
        nothing = [r for r in results if r["task"] == task and r["arm"] == "none"] or [
            {**r, "arm": "none"} for r in results if r["task"] == task and r.get("candidate") == "none"
        ]  # the oracle's grid holds no augmentation too
        floor = _paired([*results, *nothing], task, learned, "none")
        if floor[2]:
            print(f"{task}: {learned}_minus_none={floor[0]:.2f} +/- {floor[1]:.2f} seeds={floor[2]}")
        diff, se, n = _paired(results, task, learned, "frozen")
        by_arm = {
            arm: {r["seed"]: r["test_acc"] for r in rows if r["arm"] == (learned if arm == "joint" else arm)}
            for arm in ("joint", "frozen", "oracle*")
        }
        shared = sorted(set.intersection(*(set(seeds) for seeds in by_arm.values())))
        recovered = _recovered(by_arm, shared)
        if len(shared) > 2 and recovered == recovered:
            low, high = _recovered_interval(by_arm, shared)
            print(f"{task}: recovered={recovered:.2f}, 90% bootstrap interval over seeds {low:.2f} to {high:.2f}")
        lines.append(f"{task}: learned_minus_frozen={diff:.2f} +/- {se:.2f} recovered={recovered:.2f} seeds={n}")
    return lines + dose_response(results)


def _recovered(by_arm: dict[str, dict[int, float]], seeds: list[int]) -> float:
    """The share of the frozen-to-oracle gap the joint run closes, from means over ``seeds`` (nan without a gap)."""
    if not seeds:
        return float("nan")
    means = {arm: statistics.fmean(by_arm[arm][s] for s in seeds) for arm in by_arm}
    gap = means["oracle*"] - means["frozen"]
    return (means["joint"] - means["frozen"]) / gap if gap > 0 else float("nan")


def _recovered_interval(
    by_arm: dict[str, dict[int, float]], seeds: list[int], draws: int = 4000
) -> tuple[float, float]:
    """The 5th and 95th percentiles of :func:`_recovered` over seeds resampled with replacement (seeded)."""
    generator = random.Random(0)
    values = [_recovered(by_arm, [generator.choice(seeds) for _ in seeds]) for _ in range(draws)]
    values = sorted(v for v in values if v == v)
    return values[int(0.05 * len(values))], values[int(0.95 * len(values)) - 1]


def dose_response(results: list[dict]) -> list[str]:
    """The harmful task at each dose: the frozen start and the joint run, against the oracle (one line per dose)."""
    oracle = [r["test_acc"] for r in oracle_rows(results, "harmful")]
    lines = []
    for task, dose in sorted(DOSES.items(), key=lambda item: item[1]):
        frozen = [r["test_acc"] for r in results if r["task"] == task and r["arm"] == "frozen"]
        joint = [r["test_acc"] for r in results if r["task"] == task and r["arm"] == "joint"]
        if not (frozen and joint and oracle):
            continue
        diff, se, n = _paired(results, task, "joint", "frozen")
        means = [statistics.fmean(accs) for accs in (frozen, joint, oracle)]
        lines.append(
            f"dose {dose:.1f}: frozen={means[0]:.2f} joint={means[1]:.2f} oracle={means[2]:.2f} "
            f"oracle_minus_frozen={means[2] - means[0]:.2f} "
            f"learned_minus_frozen={diff:.2f} +/- {se:.2f} seeds={n}"
        )
    return lines


def plot_policies(results: list[dict], tasks: list[str], path: Path) -> None:
    """One panel per task: each seed's learned P(op) per step (a row per seed, a column per op), and the fraction
    of rotation's range kept, so the planted structure (harmful ops near zero, rotation kept) shows at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(t, [r for r in results if r["task"] == t and r["arm"] == "joint" and "policy" in r]) for t in tasks]
    panels = [(t, rows) for t, rows in panels if rows]
    figure, axes = plt.subplots(len(panels), 1, figsize=(11, 3.2 * len(panels)), squeeze=False, layout="constrained")
    for ax, (task, rows) in zip(axes[:, 0], panels, strict=True):
        ops = [k[2:] for k in rows[0]["policy"] if k.startswith("p_")]
        grid = [[r["policy"][f"p_{op}"] for op in ops] + [r["policy"].get("m_rotate", 0.0)] for r in rows]
        image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(ops) + 1), [*ops, "rotate range"], rotation=35, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)), [f"seed {r['seed']}" for r in rows], fontsize=6)
        ax.set_title(f"{task} ({TASKS[task].dataset})", fontsize=9, loc="left")
        ax.axvline(len(ops) - 0.5, color="white", linewidth=2)
    figure.colorbar(image, ax=axes[:, 0].tolist(), label="P(op) per step; rotate range: fraction kept")
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS, choices=sorted(TASKS))
    parser.add_argument("--arms", nargs="+", default=ARMS, choices=ARMS)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--seed-start", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="override every task's epochs (a smoke run)")
    parser.add_argument("--out", type=Path, default=None, help="results JSON, rewritten after every run")
    parser.add_argument("--resume", action="store_true", help="keep the runs already in --out")
    parser.add_argument("--data-dir", default=None, help="where the base data set's files are (default: the usual)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (one per process side by side)")
    parser.add_argument("--report", nargs="+", type=Path, default=None, help="tabulate these results files only")
    parser.add_argument("--plot", type=Path, default=None, help="with --report: draw the learned policies here (PNG)")
    parser.add_argument("--learned", default="joint", choices=ARMS, help="the learned arm the last lines measure")
    args = parser.parse_args()
    ignore_expected_warnings()
    global DATA_DIR
    DATA_DIR = args.data_dir
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.report:
        results = [row for path in args.report for row in json.loads(path.read_text())["results"]]
        tasks = [t for t in TASKS if any(r["task"] == t for r in results)]
        print("\n".join(report(results, tasks, args.learned)))
        if args.plot:  # the harmful task at its own dose only
            plot_policies(results, [t for t in tasks if t not in DOSES or t == "harmful"], args.plot)
        return
    results = json.loads(args.out.read_text())["results"] if args.resume and args.out and args.out.exists() else []
    done = {(r["task"], r["arm"], r["seed"]) for r in results}
    for name in args.tasks:
        task = TASKS[name] if args.epochs is None else Task(**{**TASKS[name].__dict__, "epochs": args.epochs})
        for seed in range(args.seed_start, args.seed_start + args.seeds):
            for arm in args.arms:
                if (name, arm, seed) in done:
                    continue
                try:
                    rows = run_arm(name, task, arm, seed, results)
                except Exception:  # one failed run is reported and the benchmark goes on
                    traceback.print_exc()
                    continue
                results += [{"task": name, "arm": arm, **row} for row in rows]
                print(f"{name} {arm} seed {seed}: " + ", ".join(f"{r['test_acc']:.2f}" for r in rows), flush=True)
                if args.out:
                    meta = {"command": " ".join(sys.argv), "machine": platform.platform(), "torch": torch.__version__}
                    atomic_write_text(args.out, json.dumps({"meta": meta, "results": results}, indent=1))
    print("\n".join(report(results, args.tasks, args.learned)))


if __name__ == "__main__":
    main()
