"""``PolicyArtifacts``: after every training epoch, on rank 0 and atomically, write what a run produces.

Under the run's log directory (``runs/<name>/`` with the default logger):
``policy/epoch_NNN.json`` and ``policy/latest.json`` (the learned policy), ``meta_network.pt`` (the controller's
state dict, loadable with ``torch.load(weights_only=True)``), ``policy_history.csv`` (op probabilities and magnitudes
per epoch) and, when training ends, ``policy_evolution.png`` and, for a controller in ``class`` or ``adaptive`` mode,
``meta_tree.json`` (:mod:`augmeta.meta.tree`: its per-class or per-image choices as a small decision tree).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info, rank_zero_only

from augmeta.lightning.run_folder import trim_metrics
from augmeta.utils import atomic_write_bytes, atomic_write_text

__all__ = ["PolicyArtifacts", "plot_policy_history", "run_summary"]


class PolicyArtifacts(pl.Callback):
    """Write the learned policy, the meta-network and the policy's history every ``every_n_epochs`` epochs."""

    def __init__(self, every_n_epochs: int = 1, plot: bool = True, summary: bool = True) -> None:
        self.every_n_epochs = every_n_epochs
        self.plot, self.summary = plot, summary
        self.history: list[dict[str, float]] = []
        self.start: dict[str, float] | None = None  # the controller's policy when the run began (kept on resume)

    @staticmethod
    def run_dir(trainer: pl.Trainer) -> Path:
        return Path(trainer.log_dir or trainer.default_root_dir)

    def state_dict(self) -> dict:
        return {"history": self.history, "start": self.start}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = list(state_dict.get("history", []))
        self.start = state_dict.get("start")

    @rank_zero_only
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Remember the controller's starting policy (for the summary); a resumed run logs again from its
        checkpoint's step, so the rows the interrupted run wrote after it are dropped."""
        if self.start is None and getattr(pl_module, "meta", None) is not None:
            self.start = pl_module.policy_summary()
        log_dir = trainer.logger.log_dir if trainer.logger is not None else None  # a logger's own: no collective
        if trainer.global_step > 0 and log_dir:
            trim_metrics(Path(log_dir) / "metrics.csv", trainer.global_step)

    # Not rank_zero_only: ``trainer.log_dir`` is a collective under DDP, so every process asks; rank 0 writes.
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if getattr(pl_module, "meta", None) is None or trainer.sanity_checking:
            return
        epoch = trainer.current_epoch
        self.history.append({"epoch": epoch, **pl_module.policy_summary()})
        if (epoch + 1) % self.every_n_epochs and epoch + 1 != trainer.max_epochs:
            return
        run = self.run_dir(trainer)
        if not trainer.is_global_zero:
            return
        policy = pl_module.current_policy(name=f"{run.name}_epoch_{epoch:03d}")
        policy.save(run / "policy" / f"epoch_{epoch:03d}.json")
        policy.save(run / "policy" / "latest.json")
        buffer = io.BytesIO()
        torch.save(pl_module.meta.state_dict(), buffer)
        atomic_write_bytes(run / "meta_network.pt", buffer.getvalue())
        atomic_write_text(run / "policy_history.csv", _history_csv(self.history))

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        run = self.run_dir(trainer)  # every process: a collective under DDP
        if not trainer.is_global_zero:
            return
        tree = pl_module.meta_tree(name=f"{run.name}_tree") if hasattr(pl_module, "meta_tree") else None
        if tree is not None:
            path = tree.save(run / "meta_tree.json")
            rank_zero_info(f"augmeta: meta-tree written to {path} (fidelity {tree.fidelity:.3f})")
        if self.history and self.plot:
            try:
                schedule = (getattr(pl_module, "augment_from", 0.0), pl_module.hparams.get("augment_until", 1.0))
                plot_policy_history(self.history, run / "policy_evolution.png", schedule)
            except ImportError:
                rank_zero_info("augmeta: matplotlib is not installed, so policy_evolution.png was not drawn.")
        if self.summary:
            rank_zero_info(
                run_summary(
                    run,
                    trainer.callback_metrics,
                    self.history[-1] if self.history else None,
                    self.start,
                    tree is not None,
                    updates=getattr(pl_module, "controller_updates", None),
                )
            )


def run_summary(
    run: Path,
    metrics: dict,
    policy: dict[str, float] | None,
    start: dict[str, float] | None,
    tree: bool = False,
    top: int = 5,
    updates: int | None = None,
) -> str:
    """What a finished run says: its last validation accuracy, the learned policy's top ops and how far their
    probabilities moved from the start (half the L1 distance: the share of draws that changed op), and what to run
    next. ``policy``/``start``: :meth:`AugMetaModule.policy_summary` dicts (None for a fixed policy)."""
    lines, commands = [f"augmeta: run finished: {run}"], []
    shown = [f"{key} {float(metrics[key]):.4f}" for key in ("val_acc", "val_loss") if key in metrics]
    if shown:
        lines.append("  last validation: " + ", ".join(shown))
    if policy is not None:
        probabilities = {k.removeprefix("policy/p_"): v for k, v in policy.items() if k.startswith("policy/p_")}
        ranked = sorted(probabilities.items(), key=lambda item: -item[1])[:top]
        described = []
        for op, p in ranked:
            magnitude = policy.get(f"policy/m_{op}")
            described.append(f"{op} {p:.2f}" + (f" (m {magnitude:.2f})" if magnitude is not None else ""))
        lines.append("  learned policy, P(op) per step: " + ", ".join(described))
        if start is not None:
            moved = sum(abs(v - start.get(f"policy/p_{op}", 0.0)) for op, v in probabilities.items()) / 2
            said = f"  moved from its start: {moved:.2f} of the op probability"
            lines.append(said + (f", in {updates} controller updates" if updates is not None else ""))
        latest = run / "policy" / "latest.json"
        lines.append(f"  policy: {latest}")
        commands += [
            f"augmeta describe {latest}",
            f"augmeta show {latest} -o grid.png",
            f"python train.py fit --model.policy {latest}   # retrain with it as a fixed policy",
            f"python -c \"from augmeta.export import to_torchvision; print(to_torchvision('{latest}'))\"",
        ]
        if tree:
            commands.append(f"augmeta describe {run / 'meta_tree.json'}")
    checkpoint = run / "checkpoints" / "last.ckpt"
    if checkpoint.exists():
        commands.append(f"python train.py test --ckpt_path {checkpoint}")
    if commands:
        lines += ["  next:", *(f"    {command}" for command in commands)]
    return "\n".join(lines)


def _history_csv(history: list[dict[str, float]]) -> str:
    columns = list(dict.fromkeys(key for row in history for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    return out.getvalue()


def plot_policy_history(
    history: list[dict[str, float]], path: str | Path, schedule: tuple[float, float] | None = None
) -> Path:
    """Two panels (op probability, op magnitude) against the epoch, saved atomically as a PNG: one colour and line
    style per op (``identity`` dashed black), the five most likely ops named at their lines' ends, and the epochs
    without the policy (``schedule``: the fractions of the run where it starts and stops) shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    colours = plt.get_cmap("tab20").colors
    ops = [key.removeprefix("policy/p_") for key in history[-1] if key.startswith("policy/p_")]
    final = {op: history[-1].get(f"policy/p_{op}", 0.0) for op in ops if op != "identity"}
    named = set(sorted(final, key=final.get, reverse=True)[:5])
    for index, op in enumerate(ops):
        style = {"color": "black", "linestyle": "--"} if op == "identity" else {
            "color": colours[index % len(colours)], "linestyle": ("-", "-.", ":")[index // len(colours) % 3]
        }  # fmt: skip
        for axis, prefix in ((top, "policy/p_"), (bottom, "policy/m_")):
            values = [row.get(prefix + op, float("nan")) for row in history]
            if all(math.isnan(v) for v in values):
                continue
            axis.plot(epochs, values, label=op if axis is top else None, linewidth=1.6, **style)
            if axis is top and op in named:
                axis.annotate(op, (epochs[-1], values[-1]), xytext=(4, 0), textcoords="offset points", fontsize=7,
                              color=style["color"], va="center")  # fmt: skip
    if schedule is not None and epochs:
        last = epochs[-1] + 1
        for axis in (top, bottom):
            axis.axvspan(-0.5, schedule[0] * last - 0.5, color="grey", alpha=0.12, label=None)
            axis.axvspan(schedule[1] * last - 0.5, last - 0.5, color="grey", alpha=0.12, label=None)
        top.text(
            schedule[1] * last - 0.5, 1.0, " policy off", fontsize=8, va="top", transform=top.get_xaxis_transform()
        )
    top.set_ylabel("probability of the op per step")
    bottom.set_ylabel("magnitude (upper end, 0..1)")
    bottom.set_xlabel("epoch")
    top.legend(fontsize=7, ncol=1, loc="upper left", bbox_to_anchor=(1.06, 1.0))
    top.set_title("How the learned policy evolved (grey: epochs the policy is not applied)")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return atomic_write_bytes(path, buffer.getvalue())
