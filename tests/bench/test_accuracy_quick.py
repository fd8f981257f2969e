"""The accuracy benchmark's --protocol quick smoke run: every kind of method trains, tests and is summarised."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_protocol_runs_end_to_end(tmp_path):
    out = tmp_path / "results.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    methods = ["none", "trivialaugment", "augmeta-joint", "augmeta-retrain", "augmeta-teacher"]
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "accuracy.py"), "--protocol", "quick", "--methods", *methods,
         "--out", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.strip().splitlines()
    assert lines[-1].startswith("learned_minus_best_fixed="), lines[-5:]
    assert lines[-2].startswith("teacher_minus_best_fixed="), lines[-5:]
    assert lines[-3].startswith("retrain_minus_best_fixed="), lines[-5:]
    for method in methods:
        assert any(line.startswith(f"| digits | {method} |") for line in lines), method
    assert out.is_file()
