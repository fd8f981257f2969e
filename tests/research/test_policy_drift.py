"""``research/policy_drift.py`` finds a drift every run shares and none where the runs stayed at the start."""

import json
import sys
from pathlib import Path

import pytest
import torch

from augmeta.meta import MetaNetwork

from .helpers import RESEARCH, research_script

OPS = ["identity", "rotate", "brightness", "equalize", "cutout"]


@pytest.fixture(scope="module")
def drift():
    with research_script("policy_drift") as module:
        yield module


def learned_policy(rotate_shift: float, noise_seed: int, path: Path) -> Path:
    """A policy file from a network at the start (identity 0.5, magnitude 0.3), its rotate logit moved by
    ``rotate_shift`` and every logit by a little noise of its own."""
    network = MetaNetwork(ops=OPS, num_steps=2, init_identity=0.5, init_magnitude=0.3)
    generator = torch.Generator().manual_seed(noise_seed)
    with torch.no_grad():
        network.op_logits.add_(0.05 * torch.randn(network.op_logits.shape, generator=generator))
        network.op_logits[..., OPS.index("rotate")] += rotate_shift
    network.to_policy("run", min_weight=0.0).save(path)
    return path


def test_the_start_is_the_networks_before_its_first_update(drift):
    start = drift.start_profile(OPS, init_identity=0.5, init_magnitude=0.3)
    assert start["identity"] == (pytest.approx(0.5), None)
    assert start["equalize"] == (pytest.approx(0.5 / 4), None)  # no magnitude
    assert start["rotate"] == (pytest.approx(0.5 / 4), pytest.approx(0.3, abs=1e-6))


def test_a_drift_every_run_shares_stands_out_of_the_noise(drift, tmp_path):
    files = [learned_policy(0.5, seed, tmp_path / f"run{seed}.json") for seed in range(4)]
    profiles = [drift.op_profile(drift.load_policy(f)) for f in files]
    rows = {(r["op"], r["quantity"]): r for r in drift.drift_rows(profiles, drift.start_profile(OPS, 0.5, 0.3))}
    assert rows[("rotate", "probability")]["mean"] > 0.15 > rows[("rotate", "probability")]["start"]
    assert rows[("rotate", "probability")]["t"] > 10
    assert abs(rows[("rotate", "magnitude")]["t"]) == 0  # magnitudes untouched in every run
    assert ("equalize", "magnitude") not in rows


def test_runs_that_stayed_at_the_start_show_no_drift(drift, tmp_path, capsys, monkeypatch):
    files = [learned_policy(0.0, seed, tmp_path / f"run{seed}.json") for seed in range(4)]
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"results": [{"method": "augmeta-joint", "policy_file": str(f)} for f in files]}))
    monkeypatch.setattr(sys, "argv", ["policy_drift.py", str(results)])
    drift.main()
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("drift_max_abs_t=")
    assert float(last.split("=")[1].split()[0]) < 4  # noise only (2.0 here), against t > 10 for a shared drift


def test_a_results_file_whose_policy_files_are_gone_names_them(drift, tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"results": [{"method": "augmeta-joint", "policy_file": "/nowhere/p.json"}]}))
    with pytest.raises(FileNotFoundError, match="/nowhere/p.json"):
        drift.policy_files([results])


def test_a_step_that_may_not_fire_counts_as_identity(drift):
    """AutoAugment's steps fire with p < 1 and offer no identity op: the profile still sums to one."""
    profile = drift.op_profile(drift.load_policy(RESEARCH.parent / "policies" / "autoaugment_cifar10.json"))
    assert sum(probability for probability, _ in profile.values()) == pytest.approx(1.0)
    assert 0.3 < profile["identity"][0] < 0.7  # AutoAugment's steps fire about half the time
