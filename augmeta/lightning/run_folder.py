"""Run folders that never mix: one folder per run, a resumed run that keeps its logs, and evaluations beside it.

``train.py fit`` writes a run into ``runs/<name>/``. A name whose folder already holds a run gets the next free
``<name>_v2``, ``<name>_v3``, ... (``--overwrite true``: the old run is deleted first), so a new run never leaves its
files beside an old run's. ``fit --ckpt_path`` resumes in the checkpoint's own folder and keeps the log rows written
before the checkpoint (:class:`ResumableCSVLogger`). ``test``, ``validate`` and ``predict`` write their logs and
configuration into ``<run>/<subcommand>/``, leaving the training record alone, and read the run's ``config.yaml``
when given one of its checkpoints (:func:`run_config_for`).
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

from lightning_fabric.loggers.logger import rank_zero_experiment
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

from augmeta.utils import atomic_write_text

__all__ = [
    "RUN_FILES",
    "RUN_MARKERS",
    "ResumableCSVLogger",
    "clear_run",
    "free_run_folder",
    "holds_a_run",
    "run_config_for",
    "trim_metrics",
]

#: What a run leaves in its folder: any of these makes the folder a used one.
RUN_MARKERS = ("config.yaml", "checkpoints", "policy", "meta_network.pt", "metrics.csv", "hparams.yaml")
#: The most versions of a name looked at before giving up (a folder of runs this full is a mistake).
MAX_VERSIONS = 10_000


def holds_a_run(folder: Path) -> bool:
    """Whether ``folder`` holds files an earlier run wrote (:data:`RUN_MARKERS`)."""
    return folder.is_dir() and any((folder / marker).exists() for marker in RUN_MARKERS)


def free_run_folder(folder: Path) -> Path:
    """``folder`` if it holds no run, else the first ``<folder>_v<k>`` (k = 2, 3, ...) that holds none."""
    if not holds_a_run(folder):
        return folder
    for version in range(2, MAX_VERSIONS):
        candidate = folder.with_name(f"{folder.name}_v{version}")
        if not holds_a_run(candidate):
            return candidate
    raise ValueError(
        f"`name` should leave a free run folder, but {folder} and {MAX_VERSIONS - 2} versions of it hold runs; "
        "choose another name (`--trainer.logger.init_args.name`) or pass `--overwrite true`."
    )


#: What a run writes in its folder besides :data:`RUN_MARKERS` (the logger's event files match ``events.out.*``).
RUN_FILES = (
    "policy_history.csv", "policy_evolution.png", "meta_tree.json", "test", "validate", "predict", "events.out.*",
)  # fmt: skip


def clear_run(folder: Path) -> None:
    """Delete what a run wrote in ``folder`` (:data:`RUN_MARKERS` and :data:`RUN_FILES`), for ``--overwrite``;
    anything else there (a user's own files) is left alone."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if not any(entry.match(pattern) for pattern in (*RUN_MARKERS, *RUN_FILES)):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


#: The packages whose classes a run's ``config.yaml`` may name (``class_path``) to be read without being asked for:
#: naming a class imports its module, so a config that names another package's is refused.
TRUSTED_PACKAGES = ("augmeta", "pytorch_lightning", "lightning", "lightning_fabric", "torch", "torchvision")
MAX_CONFIG_BYTES = 1 << 20  # a run's own config.yaml is a few KB


def run_config_for(ckpt_path: str | None) -> Path | None:
    """The ``config.yaml`` of the run a checkpoint belongs to (``<run>/checkpoints/<file>.ckpt``), if it has one;
    a ValueError if it names a class outside :data:`TRUSTED_PACKAGES` (reading it would import that code)."""
    if not ckpt_path or ckpt_path in ("last", "best", "hpc", "registry") or "://" in ckpt_path:
        return None
    path = Path(ckpt_path)
    config = path.parent.parent / "config.yaml"
    if path.parent.name != "checkpoints" or not config.is_file():
        return None
    _check_class_paths(config)
    return config


def _check_class_paths(config: Path) -> None:
    """Refuse a config file that is too large or names a class outside :data:`TRUSTED_PACKAGES`."""
    import yaml

    if config.stat().st_size > MAX_CONFIG_BYTES:
        raise ValueError(f"{config} should be a run's config.yaml (at most {MAX_CONFIG_BYTES} bytes), but is larger.")
    pending = [yaml.safe_load(config.read_text(encoding="utf-8"))]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            named = node.get("class_path")
            if isinstance(named, str) and named.split(".")[0] not in TRUSTED_PACKAGES:
                raise ValueError(
                    f"{config} should name classes of {', '.join(TRUSTED_PACKAGES)} only (reading it imports them), "
                    f"but names {named[:200]!r}; pass it with --config yourself if you trust it."
                )
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


def trim_metrics(path: Path, step: int) -> int:
    """Keep the rows of the CSV log ``path`` written before global step ``step`` (a resumed run logs the rest
    again); returns how many rows were dropped. Written atomically; a missing file is left missing."""
    if not path.is_file():
        return 0
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        fields, rows = reader.fieldnames or [], list(reader)
    kept = [row for row in rows if not row.get("step") or float(row["step"]) < step]
    if len(kept) == len(rows):
        return 0
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(kept)
    atomic_write_text(path, buffer.getvalue())
    return len(rows) - len(kept)


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, but a ``metrics.csv`` already in the folder is continued, not deleted."""

    def _check_log_dir_exists(self) -> None:
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                self.metrics_keys = list(csv.DictReader(file).fieldnames or [])


class ResumableCSVLogger(CSVLogger):
    """``CSVLogger`` whose ``metrics.csv`` survives a resumed run: its rows before the checkpoint are kept and the
    new ones appended (:class:`augmeta.lightning.PolicyArtifacts` drops the rows after the checkpoint)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
