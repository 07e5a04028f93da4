"""Fixtures shared by the test modules."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module that trains: the 1.85 M-parameter model gains little from two, and on a
    shared 2-core machine two OpenMP threads per process spin-wait on each other (measured under load: 10 DPO
    steps of 32 pairs took 8.6 s with one thread, 110 s with two). Timings then measure the work."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
