"""Fixtures shared by the test modules, and one torch thread per pytest-xdist worker."""
from __future__ import annotations

import os

import pytest
import torch


def pytest_configure(config):
    """Under pytest-xdist (``make test`` and ``make test-fast`` run two workers on two cores) every worker keeps to
    one torch thread, and so do the notebook kernels and subprocesses it starts: two workers with two OpenMP
    threads each on two cores spin-wait on each other. The Makefile also sets OMP_NUM_THREADS=1, which covers
    a worker that never loads this file (``pytest chapters -n 2``)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module that trains: the 1.85 M-parameter model gains little from two, and on a
    shared 2-core machine two OpenMP threads per process spin-wait on each other (measured under load: 10 DPO
    steps of 32 pairs took 8.6 s with one thread, 110 s with two). Timings then measure the work."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
