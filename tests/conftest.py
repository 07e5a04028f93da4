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


LONGEST_FIRST = (
    "tests/test_dpo.py", "chapters/05_noisy_preferences.ipynb", "tests/test_rl.py", "tests/test_smollm2_trainers.py",
    "chapters/06_real_model.ipynb", "chapters/04_dpo.ipynb", "chapters/02_reward_models_as_proxies.ipynb",
    "tests/test_bon.py", "tests/test_smollm2.py", "chapters/03_kl_budget.ipynb", "labs/lab2_reward_model.ipynb",
    "chapters/01_preferences_vs_demonstrations.ipynb", "tests/test_tour.py", "labs/lab4_dpo_from_scratch.ipynb",
)
"""The files that take longest (seconds of one worker, measured 2026-12-04 with --junitxml: 605, 376, 328, 292,
245, 193, 189, 173, 169, 168, 152, 102, 95, 87; everything else under 80), longest first."""


def pytest_collection_modifyitems(config, items):
    """Collect the longest files first. ``--dist loadfile`` hands whole files to the two workers in collection
    order; a long file dealt out last leaves the other worker idle until it ends (the longest-processing-time-
    first rule). Within a file the order is kept, so a notebook's cells run top to bottom."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def key(item) -> int:
        try:
            name = item.path.relative_to(config.rootpath).as_posix()
        except ValueError:
            return len(rank)
        return rank.get(name, len(rank))

    items.sort(key=key)  # stable: the rest keep their collection order


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module that trains: the 1.85 M-parameter model gains little from two, and on a
    shared 2-core machine two OpenMP threads per process spin-wait on each other (measured under load: 10 DPO
    steps of 32 pairs took 8.6 s with one thread, 110 s with two). Timings then measure the work."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
