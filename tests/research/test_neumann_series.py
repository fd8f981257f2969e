"""``research/neumann_series.py``: power iteration and the series' terms on an operator with known eigenvalues."""

import subprocess
import sys

import pytest
import torch

from .helpers import RESEARCH, research_script

#: The Hessian of a loss in two parameter tensors: eigenvalues 4, 1 and -0.5.
EIGENVALUES = (torch.tensor([4.0, 1.0]), torch.tensor([-0.5]))


def hvp(u):
    return tuple(d * t for d, t in zip(EIGENVALUES, u, strict=True))


@pytest.fixture(scope="module")
def series():
    with research_script("neumann_series") as module:
        yield module


def test_power_iteration_finds_the_largest_eigenvalue(series):
    assert series.largest_eigenvalue(hvp, EIGENVALUES, iterations=60) == pytest.approx(4.0, rel=1e-6)


def test_term_norms_shrink_grow_or_vanish_with_alpha(series):
    sharp = (torch.tensor([1.0, 0.0]), torch.tensor([0.0]))  # along the eigenvalue 4
    assert series.term_norms(hvp, sharp, alpha=0.1, terms=2) == pytest.approx([0.6, 0.36])
    assert series.term_norms(hvp, sharp, alpha=0.25, terms=2) == pytest.approx([0.0, 0.0])
    assert series.term_norms(hvp, sharp, alpha=1.0, terms=2) == pytest.approx([3.0, 9.0])  # alpha * 4 > 2
    negative = (torch.tensor([0.0, 0.0]), torch.tensor([1.0]))
    assert series.term_norms(hvp, negative, alpha=0.1, terms=2) == pytest.approx([1.05, 1.05**2])


def test_the_script_probes_a_short_run():
    command = [
        sys.executable, str(RESEARCH / "neumann_series.py"), "--dataset", "digits", "--train-subset", "300", "--width",
        "4", "--batch-size", "64", "--epochs", "1", "--alphas", "0.01", "--terms", "2", "--iterations", "3",
    ]  # fmt: skip
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()
    assert lines[3].startswith("| 1 | ") and lines[3].count("|") == 6
    assert len(lines[3].split("|")[5].split()) == 2  # one norm per term
    assert lines[-1].startswith("neumann_lambda_max=")
