"""Two processes under DDP on the CPU (gloo), as ``train.py --trainer.devices 2 --trainer.strategy ddp`` runs them:
one controller in both, each its own augmentations and share of the data, files written once, exact resume."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).with_name("ddp_run.py")
ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}

pytestmark = pytest.mark.skipif(
    not (torch.distributed.is_available() and torch.distributed.is_gloo_available()), reason="needs gloo"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(out: Path, epochs: int, ckpt: Path | None = None, trials: bool = False, per_class: bool = False) -> list[dict]:
    flags = ["trials"] * trials + ["class"] * per_class
    command = [sys.executable, str(SCRIPT), str(out), str(epochs), str(ckpt) if ckpt else "-", *flags]
    environment = {**ENVIRONMENT, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300)
    errors = [line for line in done.stderr.splitlines() if "Error" in line or "error" in line]
    assert done.returncode == 0, "\n".join(errors[-20:]) or done.stderr[-3000:]
    return [json.loads((out / f"rank{rank}.json").read_text()) for rank in (0, 1)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, list[dict]]:
    """An uninterrupted two-epoch run, and one resumed from its first epoch's checkpoint."""
    root = tmp_path_factory.mktemp("ddp")
    straight = _run(root / "straight", 2)
    resumed = _run(root / "resumed", 2, root / "straight" / "checkpoints" / "epoch=0-step=6.ckpt")
    return {"straight": straight, "resumed": resumed, "root": root}


def test_both_processes_end_with_one_controller_that_learned(runs):
    first, second = runs["straight"]
    assert first["meta"] == second["meta"] and first["model"] == second["model"]
    assert first["moves"] == second["moves"] > 0  # the controller moved, from what both processes probed


def test_each_process_draws_its_own_augmentations_and_images(runs):
    first, second = runs["straight"]
    assert first["draw"] != second["draw"]
    assert not set(first["sampler"]) & set(second["sampler"])  # disjoint shares of the epoch's order


def test_files_are_written_by_rank_zero_only(runs):
    first, second = runs["straight"]
    assert first["policy_saves"] > 0 and second["policy_saves"] == 0
    policy = runs["root"] / "straight" / "policy"
    assert sorted(p.name for p in policy.iterdir()) == ["epoch_000.json", "epoch_001.json", "latest.json"]


def test_a_resumed_run_ends_exactly_where_the_uninterrupted_one_ends(runs):
    for straight, resumed in zip(runs["straight"], runs["resumed"], strict=True):
        assert resumed["meta"] == straight["meta"] and resumed["model"] == straight["model"]
        assert resumed["draw"] == straight["draw"] and resumed["base_steps"] == straight["base_steps"] == 12


def test_held_out_trials_reach_one_verdict_in_both_processes(tmp_path):
    """Each process trains its copies on its own share of the batches; the held-out losses are averaged over both,
    so both keep the same candidate and end with one controller."""
    first, second = _run(tmp_path / "trials", 2, trials=True)
    assert first["trials"] is not None and first["trials"] == second["trials"]
    assert list(first["trials"])[:2] == ["none", "screen"]
    assert first["kept"] == second["kept"] and first["meta"] == second["meta"]


def test_a_class_mode_controller_is_one_controller_in_both_processes(tmp_path):
    """Each process probes its own held-out share; the per-class costs and what every probed image reads as (the
    leak check) are summed over both, so both end with the same per-class controller."""
    first, second = _run(tmp_path / "class", 2, per_class=True)
    assert first["reads"] is not None and first["reads"] == second["reads"]
    assert first["meta"] == second["meta"] and first["moves"] == second["moves"] > 0
