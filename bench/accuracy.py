"""Accuracy of every method under one recipe: none, RandAugment, AutoAugment, TrivialAugmentWide, and augmeta.

    python bench/accuracy.py --protocol cpu            # digits + Fashion-MNIST reduced to 4,000 images (2-core CPU)
    python bench/accuracy.py --protocol gpu            # full Fashion-MNIST (bench/gpu_suite.sh)
    python bench/accuracy.py --protocol quick          # smoke version for CI-sized machines (1 epoch, 1 seed)
    python bench/accuracy.py --datasets fashion_mnist_4k_w32 --out r.json --resume  # the anchors' width 32
    python bench/accuracy.py --protocol gpu --report seed0.json seed1.json    # the table of runs written before
                                                                    # (those of today's settings, or of --meta)

``--out`` is rewritten (atomically) after every run; with ``--resume`` the runs already in it are kept, so an
interrupted benchmark, or one given more seeds or methods, runs only what is missing. Seeds can run in separate
processes (``--seed-start K --seeds 1``, each with its own ``--out``); ``--report`` then tabulates their files.
A run that fails prints its traceback and the benchmark goes on with the next.

Every method shares the model, optimiser, one-cycle schedule, epochs, batch size, base crop/flip and data split;
only the augmentation policy differs. ``augmeta-joint`` learns its policy during the run (the controller sees the
validation split held out of the training data, never the test set; with ``--meta-size N`` a split of N images of
its own instead, so the validation accuracy of a learned run is held out too); ``augmeta-retrain`` trains a fresh
model with the policy file the joint run of the same seed exported; ``augmeta-frozen`` is the joint run with the
controller's learning rate 0 (it trains with the policy the controller starts from: what the learning adds is joint
minus frozen); ``augmeta-teacher`` is the joint run with the TeachAugment objective (against an EMA teacher; no
held-out data) instead of the default gradient matching, and ``augmeta-teacher-ns`` the same with the paper's
non-saturating adversarial term. Prints a table (test accuracy mean +/- std over seeds, wall time relative to
``none``) and last ``learned_minus_best_fixed=<pp> +/- <pp>`` for the headline data set: the per-seed difference
from the best fixed policy, averaged over the seeds both ran, +/- its standard error.
"""

from __future__ import annotations

import argparse
import inspect
import json
import platform
import statistics
import sys
import tempfile
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytorch_lightning as pl
import torch
from script_setup import fit_and_test, ignore_expected_warnings, quiet_trainer

from augmeta.lightning import AugDataModule, AugMetaModule
from augmeta.meta import objective_settings
from augmeta.utils import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
FIXED = ["none", "randaugment", "autoaugment", "trivialaugment"]
LEARNED = ["augmeta-joint", "augmeta-retrain", "augmeta-frozen", "augmeta-teacher", "augmeta-teacher-ns"]
#: Controller settings each learned method adds to the recipe's (``--meta``).
LEARNED_SETTINGS = {
    "augmeta-joint": {},
    "augmeta-frozen": {"meta_lr": 0.0},  # the ablation: the joint run with its controller never moving from the start
    "augmeta-teacher": {"objective": "teacher"},
    "augmeta-teacher-ns": {"objective": "teacher_ns"},
}


#: Module defaults that rows written before rows recorded their controller settings were run with (they differ from
#: today's): `--resume` compares those rows as if they had recorded these.
UNRECORDED_DEFAULTS = {"meta_every": 8, "init_identity": 0.95, "init_magnitude": 0.1}
#: Controller settings added after rows recorded theirs, with the value those rows were run with.
UNRECORDED_CONTROLLER = {"meta_batch_size": None}
#: Recipe settings that rows written before they were recorded were run with.
UNRECORDED_RECIPE = {"augment_until": 1.0, "meta_size": None}


@dataclass(frozen=True)
class Recipe:
    dataset: str
    epochs: int
    batch_size: int
    width: int
    lr: float
    crop_padding: int
    flip: bool
    train_subset: int | None = None
    val_size: float = 0.1
    precision: str = "32-true"
    meta: dict = field(default_factory=dict)
    augment_until: float = 1.0  # every method's policy is applied to this fraction of the steps (--augment-until)
    meta_size: int | float | None = None  # the controller's own split (--meta-size); None: the validation split


RECIPES = {
    "digits": Recipe("digits", epochs=30, batch_size=64, width=16, lr=0.05, crop_padding=1, flip=False),
    "fashion_mnist_4k": Recipe(
        "fashion_mnist", epochs=30, batch_size=128, width=16, lr=0.1, crop_padding=2, flip=True, train_subset=4000
    ),
    # the anchors' reduced recipe exactly (width 32): ~2.2x the wall time of width 16, so not in the CPU protocol
    "fashion_mnist_4k_w32": Recipe(
        "fashion_mnist", epochs=30, batch_size=128, width=32, lr=0.1, crop_padding=2, flip=True, train_subset=4000
    ),
    "fashion_mnist": Recipe(
        "fashion_mnist", epochs=20, batch_size=512, width=64, lr=0.2, crop_padding=2, flip=True, precision="bf16-mixed"
    ),
}
PROTOCOLS = {
    "cpu": (["digits", "fashion_mnist_4k"], 3, None),
    "gpu": (["fashion_mnist"], 3, None),
    "quick": (["digits"], 1, 1),
}
HEADLINE = {"cpu": "fashion_mnist_4k", "gpu": "fashion_mnist", "quick": "digits"}


DATA_DIR: str | None = None  # --data-dir: where the data set's files are (default: the usual places)


def run_one(recipe: Recipe, method: str, seed: int, epochs: int, policy_file: str | None = None) -> dict:
    """Train and test one (method, seed); returns test accuracy, wall time and, for joint runs, the policy file."""
    pl.seed_everything(seed, workers=True, verbose=False)
    data = AugDataModule(
        recipe.dataset,
        data_dir=DATA_DIR,
        batch_size=recipe.batch_size,
        val_size=recipe.val_size,
        train_subset=recipe.train_subset,
        seed=seed,
        meta_size=recipe.meta_size,
    )
    policy = "augmeta" if method in LEARNED_SETTINGS else policy_file if method == "augmeta-retrain" else method
    module = AugMetaModule(
        policy=policy,
        width=recipe.width,
        lr=recipe.lr,
        crop_padding=recipe.crop_padding,
        flip=recipe.flip,
        augment_until=recipe.augment_until,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        **({**recipe.meta, **LEARNED_SETTINGS[method]} if method in LEARNED_SETTINGS else {}),
    )
    trainer = quiet_trainer(
        max_epochs=epochs,
        precision=recipe.precision if torch.cuda.is_available() else "32-true",
        check_val_every_n_epoch=max(1, epochs),
    )
    result = {"method": method, "seed": seed, **fit_and_test(trainer, module, data)}
    if method in LEARNED_SETTINGS:
        path = Path(tempfile.mkdtemp(prefix="augmeta-policy-")) / f"{method}_seed{seed}.json"
        module.current_policy(name=f"{recipe.dataset}_seed{seed}").save(path)
        result["policy_file"] = str(path)
    return result


def run_method(recipe: Recipe, method: str, seed: int, epochs: int, results: list[dict]) -> dict | None:
    """One run of ``method``; ``augmeta-retrain`` retrains with the policy of this seed's joint run in ``results``
    (None where there is none, e.g. the joint run failed)."""
    if method != "augmeta-retrain":
        return run_one(recipe, method, seed, epochs)
    joint = next((r for r in results if r["method"] == "augmeta-joint" and r["seed"] == seed), None)
    if joint is None:
        return None
    if not Path(joint["policy_file"]).is_file():  # a kept joint run whose file is gone: run it again, same seed
        joint = run_one(recipe, "augmeta-joint", seed, epochs)  # (same policy on the CPU; GPU kernels may differ)
    return run_one(recipe, method, seed, epochs, joint["policy_file"])


def controller_defaults() -> dict:
    """:class:`AugMetaModule`'s defaults of the arguments only a learned policy depends on."""
    parameters = inspect.signature(AugMetaModule.__init__).parameters
    return {name: parameters[name].default for name in AugMetaModule.CONTROLLER_ARGUMENTS}


def controller_settings(method: str, meta: dict, defaults: dict | None = None) -> dict:
    """The effective controller settings of a run of ``method`` (the module's ``defaults``, then ``--meta``, then the
    method's own); ``augmeta-retrain`` has those of the joint run whose policy it trains with, a fixed method none."""
    if method in FIXED:
        return {}
    learned = "augmeta-joint" if method == "augmeta-retrain" else method
    settings = {**(controller_defaults() if defaults is None else defaults), **meta, **LEARNED_SETTINGS[learned]}
    return settings | objective_settings(settings["objective"], settings)  # those left None: as AugMetaModule does


def recorded_controller(row: dict) -> dict:
    """The controller settings a results row was run with; rows that did not record them had ``--meta`` (``meta``)
    over the defaults of then (:data:`UNRECORDED_DEFAULTS`)."""
    if "controller" in row:  # a fixed method's is empty
        return {**UNRECORDED_CONTROLLER, **row["controller"]} if row["controller"] else {}
    defaults = {**controller_defaults(), **UNRECORDED_DEFAULTS, **UNRECORDED_CONTROLLER}
    return controller_settings(row["method"], row.get("meta") or {}, defaults)


def effective_controller(controller: dict, batch_size: int) -> dict:
    """``controller`` with the settings that make no difference at ``batch_size`` written one way: a
    ``meta_batch_size`` of the batch or more runs the whole batch, as None does."""
    size = controller.get("meta_batch_size")
    return controller | {"meta_batch_size": None} if size is not None and size >= batch_size else controller


def run_key(
    dataset: str, method: str, seed: int, epochs: int, augment_until: float, meta_size: int | float | None = None
) -> dict:
    """What identifies a run besides its controller settings (``--resume`` and ``--report`` match rows on it).

    ``none`` has no policy to switch off, so its run is the same whatever ``augment_until`` is: its key says 1.0;
    likewise ``meta_size`` where it changes nothing (:func:`split_for_controller`)."""
    until = policy_until(method, augment_until)
    meta = split_for_controller(dataset, method, meta_size)
    return {"dataset": dataset, "method": method, "seed": seed, "epochs": epochs, "augment_until": until,
            "meta_size": meta}  # fmt: skip


def split_for_controller(dataset: str, method: str, meta_size: int | float | None) -> int | float | None:
    """The ``meta_size`` that makes a difference to a run of ``method`` on ``dataset``: None for a fixed policy on
    a recipe with a training subset (the controller's split comes from the images the subset leaves out, so the run
    is the same); elsewhere the split is taken from the training images, which changes every method's run."""
    return None if method in FIXED and RECIPES[dataset].train_subset is not None else meta_size


def policy_until(method: str, augment_until: float) -> float:
    """The ``augment_until`` that makes a difference to a run of ``method``: 1.0 for ``none`` (no policy to stop)."""
    return 1.0 if method == "none" else augment_until


def kept_run(raw: list[dict], key: dict, controller: dict) -> dict | None:
    """The row of ``raw`` with ``key`` and ``controller`` settings (``--resume``), or None. A row written before a key
    field was recorded had :data:`UNRECORDED_RECIPE`'s value, or matches any (``epochs``)."""
    batch_size = RECIPES[key["dataset"]].batch_size
    wanted = effective_controller(controller, batch_size)
    for row in raw:
        recorded = {k: row.get(k, UNRECORDED_RECIPE.get(k, v)) for k, v in key.items()}
        if "augment_until" in recorded:  # a `none` row run with any `augment_until` is the `none` run
            recorded["augment_until"] = policy_until(row["method"], recorded["augment_until"])
        if "meta_size" in recorded:  # a fixed row of a subset recipe is the same run whatever `meta_size` was
            recorded["meta_size"] = split_for_controller(key["dataset"], row["method"], recorded["meta_size"])
        if recorded == key and effective_controller(recorded_controller(row), batch_size) == wanted:
            return row
    return None


def summarise(results: list[dict], methods: list[str]) -> dict[str, dict]:
    table = {}
    none_times = [r["seconds"] for r in results if r["method"] == "none"]
    none_time = statistics.fmean(none_times) if none_times else float("nan")  # no `none` run: no time ratio
    for method in methods:
        rows = [r for r in results if r["method"] == method]
        if not rows:
            continue
        accs = [r["test_acc"] for r in rows]
        table[method] = {
            "mean": statistics.fmean(accs),
            "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "val": statistics.fmean(r["val_acc"] for r in rows),
            "time": statistics.fmean(r["seconds"] for r in rows) / none_time,
            "n": len(rows),
            "by_seed": {r["seed"]: r["test_acc"] for r in rows},
            "val_by_seed": {r["seed"]: r["val_acc"] for r in rows},
        }
    return table


def markdown(tables: dict[str, dict], command: str) -> str:
    lines = [
        f"Command: `{command}`  ",
        f"Machine: {platform.node() or 'unknown'}, {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}",
        "",
        "| data set | method | test acc % (mean +/- std) | val acc % | wall time vs none | seeds |",
        "|---|---|---|---|---|---|",
    ]
    for dataset, table in tables.items():
        for method, row in table.items():
            lines.append(
                f"| {dataset} | {method} | {row['mean']:.2f} +/- {row['std']:.2f} | {row['val']:.2f} | "
                f"{row['time']:.2f}x | {row['n']} |"
            )
    return "\n".join(lines) + "\n"


def headline(
    table: dict[str, dict], method: str = "augmeta-joint", key: str = "learned", reference: str | None = None
) -> str:
    """``<key>_minus_best_fixed=<pp> +/- <pp>``: ``method`` against the best fixed policy (by test mean), or against
    ``reference`` (``<key>_minus_<reference>``), paired by seed: the mean of the per-seed differences over the seeds
    both ran, +/- its standard error (nan below 2 seeds)."""
    if reference is None:
        other = max((m for m in FIXED if m in table), key=lambda m: table[m]["mean"])
        name, label = "best_fixed", f"best fixed: {other}"
    else:
        other, name, label = reference, reference.removeprefix("augmeta-"), reference
    mine, theirs = table[method]["by_seed"], table[other]["by_seed"]
    differences = [mine[seed] - theirs[seed] for seed in sorted(mine.keys() & theirs.keys())]
    if not differences:
        return f"{key}_minus_{name}=nan +/- nan  ({label}; no seed in common)"
    diff = round(statistics.fmean(differences), 2) + 0.0  # + 0.0: no "-0.00" for a difference that rounds to 0
    error = statistics.stdev(differences) / len(differences) ** 0.5 if len(differences) > 1 else float("nan")
    return (
        f"{key}_minus_{name}={diff:+.2f} +/- {error:.2f}  "
        f"({label}; paired over {len(differences)} seeds, +/- standard error)"
    )


def previous_results(path: Path | None) -> tuple[list[str], list[dict]]:
    """The commands and raw results previous runs wrote to ``path`` (``--resume``); none if it is not written yet."""
    if path is None:
        raise SystemExit("--resume needs --out: the file whose runs to keep.")
    if not path.is_file():
        return [], []
    written = json.loads(path.read_text())
    return written.get("commands", [written["command"]] if "command" in written else []), written["results"]


def print_tables(tables: dict[str, dict], command: str, protocol: str, readme: bool) -> None:
    """The markdown table (appended to bench/README.md with ``readme``), then the headline data set's differences."""
    text = markdown(tables, command)
    print(text)
    if readme:
        with open(ROOT / "bench" / "README.md", "a") as handle:
            handle.write("\n" + text)
    name = HEADLINE[protocol] if HEADLINE[protocol] in tables else next(iter(tables))
    if "augmeta-joint" in tables[name] and any(m in tables[name] for m in FIXED):
        for method, key in (("augmeta-retrain", "retrain"), ("augmeta-frozen", "frozen"),
                            ("augmeta-teacher", "teacher"), ("augmeta-teacher-ns", "teacher_ns")):  # fmt: skip
            if method in tables[name]:
                print(headline(tables[name], method, key))
        if "augmeta-frozen" in tables[name]:  # what the controller's learning adds to its start
            print(headline(tables[name], reference="augmeta-frozen"))
        print(headline(tables[name]))  # last: the headline line


def report(
    paths: list[Path],
    methods: list[str],
    meta: dict,
    augment_until: float,
    epochs: int | None,
    datasets: list[str] | None = None,
    meta_size: int | float | None = None,
) -> tuple[str, dict[str, dict]]:
    """The commands and per-data-set tables of results files written before (``--report``); nothing is trained.

    Only the rows the same command would keep with ``--resume`` are tabulated (``--meta``, ``--augment-until``,
    ``--meta-size`` and ``--epochs`` as given, else the defaults; the first row of each run): a mean over rows of
    different settings would describe no run. The rows left out are counted in a line before the table. ``datasets``
    (``--datasets``) picks data sets of the files; all of them by default."""
    commands, raw = [], []
    for path in paths:
        written_commands, written = previous_results(path)
        if not written:
            raise SystemExit(f"--report: {path} holds no results.")
        commands += written_commands
        raw += written
    tables, left_out = {}, Counter()
    for name in dict.fromkeys(r["dataset"] for r in raw if not datasets or r["dataset"] in datasets):
        kept = []
        for method, seed in dict.fromkeys((r["method"], r["seed"]) for r in raw if r["dataset"] == name):
            key = run_key(name, method, seed, epochs or RECIPES[name].epochs, augment_until, meta_size)
            row = kept_run(raw, key, controller_settings(method, meta))
            if row is not None:
                kept.append(row)
        kept_ids = {id(row) for row in kept}
        left_out.update(f"{name} {r['method']}" for r in raw if r["dataset"] == name and id(r) not in kept_ids)
        tables[name] = summarise(kept, methods)
    if left_out:
        counts = ", ".join(f"{key} ({count})" for key, count in left_out.items())
        print(f"--report left out rows of other settings or repeated runs: {counts}")
    return " ; ".join(dict.fromkeys(commands)), tables


def kept_accuracies(
    paths: list[Path],
    dataset: str,
    method: str,
    meta: dict,
    augment_until: float,
    epochs: int | None = None,
    meta_size: int | float | None = None,
) -> dict[int, tuple[float, float]]:
    """Seed -> (test %, val %) of ``method``'s runs on ``dataset`` that :func:`report` keeps for these settings (the
    recipe's epochs where ``epochs`` is None); empty where it keeps none."""
    _, tables = report(paths, [method], meta, augment_until, epochs, [dataset], meta_size)
    row = tables.get(dataset, {}).get(method)
    return {} if row is None else {seed: (test, row["val_by_seed"][seed]) for seed, test in row["by_seed"].items()}


def count_or_fraction(text: str) -> int | float:
    """``--meta-size``: ``6000`` is a count of images, ``0.1`` a fraction (argparse names this function on an error)."""
    return float(text) if "." in text else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), default="cpu")
    parser.add_argument("--datasets", nargs="+", choices=sorted(RECIPES))
    parser.add_argument("--methods", nargs="+", default=FIXED + LEARNED, choices=FIXED + LEARNED)
    parser.add_argument("--seeds", type=int, default=None, help="how many seeds (default: the protocol's)")
    parser.add_argument("--seed-start", type=int, default=0, help="the first seed: runs seed-start .. + seeds - 1")
    parser.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    parser.add_argument("--meta", type=json.loads, default=None, help="controller settings, e.g. '{\"meta_every\": 2}'")
    parser.add_argument(
        "--augment-until",
        type=float,
        default=1.0,
        help="every method applies its policy to this fraction of the training steps only (default 1: all)",
    )
    parser.add_argument(
        "--meta-size",
        type=count_or_fraction,
        default=None,
        help="the controller learns from a split of this many training images (a count, or a fraction with a '.') "
        "held out besides the validation split (default: from the validation split)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write raw results (JSON) here, after every run")
    parser.add_argument(
        "--resume", action="store_true", help="keep the runs in --out; run only the missing (data set, method, seed)"
    )
    parser.add_argument("--readme", action="store_true", help="append the table to bench/README.md")
    parser.add_argument("--data-dir", default=None, help="where the data set's files are")
    parser.add_argument("--report", type=Path, nargs="+", help="tabulate these results files; train nothing")
    args = parser.parse_args()
    if args.report:
        epochs = args.epochs or PROTOCOLS[args.protocol][2]
        command, tables = report(
            args.report, args.methods, args.meta or {}, args.augment_until, epochs, args.datasets, args.meta_size
        )
        print_tables(tables, command, args.protocol, args.readme)
        return
    global DATA_DIR
    DATA_DIR = args.data_dir
    ignore_expected_warnings()
    datasets, seeds, epochs_override = PROTOCOLS[args.protocol]
    datasets, seeds = args.datasets or datasets, args.seeds or seeds
    command = "python bench/accuracy.py " + " ".join(sys.argv[1:])
    commands, raw = previous_results(args.out) if args.resume else ([], [])
    commands.append(command)
    tables, failed = {}, []
    run_one(RECIPES["digits"], "none", 0, 1)  # warm-up: imports, allocator and kernels, so timings compare
    for name in datasets:
        recipe = Recipe(**{**asdict(RECIPES[name]), "meta": args.meta or {}, "augment_until": args.augment_until,
                           "meta_size": args.meta_size})  # fmt: skip
        epochs = args.epochs or epochs_override or recipe.epochs
        results = []
        for seed in range(args.seed_start, args.seed_start + seeds):
            for method in args.methods:
                controller = controller_settings(method, recipe.meta)
                key = run_key(name, method, seed, epochs, recipe.augment_until, recipe.meta_size)
                settings = {"epochs": epochs, "augment_until": recipe.augment_until, "meta_size": key["meta_size"],
                            "meta": recipe.meta, "controller": controller}  # fmt: skip
                kept = kept_run(raw, key, controller)
                if kept is not None:
                    results.append({k: v for k, v in kept.items() if k not in ("dataset", *settings)})
                    continue
                try:
                    result = run_method(recipe, method, seed, epochs, results)
                except Exception:  # noqa: BLE001 - one failed run is reported, and the others still run
                    print(f"{name} {method} seed {seed} failed:\n{traceback.format_exc()}", flush=True)
                    failed.append(f"{name} {method} seed {seed}")
                    continue
                if result is None:
                    continue
                results.append(result)
                raw.append({"dataset": name, **settings, **result})
                if args.out:
                    atomic_write_text(args.out, json.dumps({"commands": commands, "results": raw}, indent=2))
                print(
                    f"{name} {method:16s} seed {seed}: test {result['test_acc']:.2f}  val {result['val_acc']:.2f}"
                    f"  {result['seconds']:.1f} s",
                    flush=True,
                )
        tables[name] = summarise(results, args.methods)
    print_tables(tables, command, args.protocol, args.readme)
    if failed:
        raise SystemExit(f"{len(failed)} run(s) failed (tracebacks above): {', '.join(failed)}")


if __name__ == "__main__":
    main()
