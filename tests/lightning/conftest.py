"""Fixtures of the Lightning tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def one_intra_op_thread():
    """Batches of 64 tiny images: one intra-op thread is as fast as several, and many times faster on a busy machine
    (OpenMP threads that spin-wait for a core the machine does not have to spare)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
