"""A two-process DDP run on the CPU (gloo), for ``test_ddp.py``:
``python ddp_run.py OUT EPOCHS [CKPT|-] [trials] [class]`` (``trials``: with held-out trials at the burn-in's end;
``class``: a controller in class mode).

Each process writes ``OUT/rank<k>.json``: its controller's and model's parameters, what its RNG draws after the run,
and how many policy files it saved."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from augmeta.lightning import AugDataModule, AugMetaModule, PolicyArtifacts
from augmeta.policy import Policy


def main(out: Path, epochs: int, ckpt: str | None, trials: bool = False, per_class: bool = False) -> None:
    saves = {"n": 0}
    save = Policy.save

    def counted(self, *args, **kwargs):
        saves["n"] += 1
        return save(self, *args, **kwargs)

    Policy.save = counted
    pl.seed_everything(0, verbose=False)
    settings = {"policy_trials": 0.25, "objective_args": {"min_probes": 1, "levels": 2}} if trials else {}
    if per_class:
        settings = {**settings, "meta_mode": "class", "objective_args": {"min_probes": 1, "levels": 2}}
    module = AugMetaModule(width=8, policy="augmeta", objective="affinity", meta_every=1, augment_from=0.25, **settings)
    data = AugDataModule(dataset="digits", batch_size=64)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=epochs,
        limit_train_batches=6,
        limit_val_batches=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=out,
        callbacks=[ModelCheckpoint(dirpath=out / "checkpoints", save_top_k=-1), PolicyArtifacts(plot=False)],
    )
    trainer.fit(module, data, ckpt_path=ckpt)
    rank = trainer.global_rank
    result = {
        "rank": rank,
        "meta": [p.detach().flatten().tolist() for p in module.meta.parameters()],
        "model": float(sum(p.detach().double().sum() for p in module.model.parameters())),
        "draw": torch.rand(4).tolist(),
        "base_steps": module.base_steps,
        "moves": module.objective.moves,
        "policy_saves": saves["n"],
        "sampler": list(iter(trainer.train_dataloader["train"].sampler))[:8],
        "trials": module.objective.trial_losses,
        "kept": None if module.objective.kept_ops is None else module.objective.kept_ops.tolist(),
        "reads": None if getattr(module.objective, "read_sum", None) is None else module.objective.read_sum.tolist(),
    }
    (out / f"rank{rank}.json").write_text(json.dumps(result))
    if torch.distributed.is_initialized():  # a clean teardown: gloo can abort a process that exits with it open
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    checkpoint = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None
    main(
        Path(sys.argv[1]),
        int(sys.argv[2]),
        checkpoint,
        trials="trials" in sys.argv[4:],
        per_class="class" in sys.argv[4:],
    )
