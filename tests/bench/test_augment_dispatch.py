"""``bench/augment_dispatch.py`` counts the ops a call dispatches and covers the policies and the controller."""

import re

import pytest
import torch

from .helpers import bench_script


@pytest.fixture(scope="module")
def dispatch():
    with bench_script("augment_dispatch") as module:
        yield module


def test_counts_the_top_level_ops_only(dispatch):
    x = torch.rand(4, 4)
    assert dispatch.dispatched_ops(lambda: x + 1) == 1
    assert dispatch.dispatched_ops(lambda: torch.nn.functional.softmax(x * 2, dim=1)) == 2  # not softmax's inner ops


@pytest.mark.parametrize("path", ["grouped", "masked", "compiled"])
def test_every_row_augments_and_dispatches_ops(dispatch, path):
    images, labels = torch.rand(16, 1, 12, 12), torch.randint(0, 10, (16,))
    rows = dispatch.rows(images, labels, path)
    assert {"trivialaugment_wide", "controller, base step (no grad)", "controller, controller step (grad)"} <= set(rows)
    for name, call in rows.items():
        assert dispatch.dispatched_ops(call) > 10, name


def test_the_last_lines_give_every_paths_counts(dispatch, monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["augment_dispatch.py", "--batch", "8", "--shape", "1", "8", "8", "--repeats", "1",
                                     "--calls", "1"])  # fmt: skip
    dispatch.main()
    *_, baseline, masked_line, last = capsys.readouterr().out.strip().splitlines()
    compiled = re.fullmatch(r"aten_ops_trivialaugment=(\d+) aten_ops_controller=(\d+)", last)
    masked = re.fullmatch(r"masked path: aten_ops_trivialaugment=(\d+) aten_ops_controller=(\d+)", masked_line)
    grouped = re.fullmatch(r"baseline, grouped path: aten_ops_trivialaugment=(\d+) aten_ops_controller=(\d+)", baseline)
    assert compiled and masked and grouped, (baseline, masked_line, last)
    assert min(int(n) for n in (*compiled.groups(), *masked.groups(), *grouped.groups())) > 10
    assert all(int(c) < int(m) for c, m in zip(compiled.groups(), masked.groups(), strict=True))
