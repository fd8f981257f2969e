"""Every research script starts as its docstring runs it, ``python research/<name>.py`` from the repository root:
those that import bench's modules (``accuracy``, ``script_setup``) find them."""

import subprocess
import sys

import pytest

from .helpers import RESEARCH


@pytest.mark.parametrize(
    "name",
    [
        "controller_signal",
        "invariance_signal",
        "neumann_series",
        "op_trials",
        "paired",
        "pick_learned",
        "policy_drift",
        "resampling_cost",
    ],  # fmt: skip
)
def test_the_script_starts_from_the_repository_root(name):
    command = [sys.executable, f"research/{name}.py", "--help"]
    done = subprocess.run(command, cwd=RESEARCH.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
