"""``bench/augment_dispatch.py`` counts the ops a call dispatches and covers the policies and the controller."""

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


def test_every_row_augments_and_dispatches_ops(dispatch):
    images, labels = torch.rand(16, 1, 12, 12), torch.randint(0, 10, (16,))
    rows = dispatch.rows(images, labels)
    assert {"trivialaugment_wide", "controller, base step (no grad)", "controller, controller step (grad)"} <= set(rows)
    for name, call in rows.items():
        assert dispatch.dispatched_ops(call) > 10, name
