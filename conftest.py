"""Run every notebook as if on another CPU, so that stored outputs which print round-off fail here first.

nbval compares a notebook's stored text with a fresh run. A number whose last digits are round-off (1.28e-15,
or a sum whose 7th digit depends on the order of additions) differs between machines with other vector
instructions, and `make test` then fails for someone else. Before any kernel starts, this file moves the
kernels' floating-point code paths one step below this machine's best: torch's vectorized kernels
(ATEN_CPU_CAPABILITY), MKL's matrix products (MKL_ENABLE_INSTRUCTIONS) and numpy's SIMD loops
(NPY_DISABLE_CPU_FEATURES). Results stay correct, but their round-off changes as it would on an older or a
different CPU, and an output that survives carries no round-off digits. See docs/design.md, "Testing".
PREFKIT_NATIVE_ROUNDOFF=1 keeps the machine's own code paths.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))
from roundoff import perturbed_roundoff_env  # noqa: E402  (tests/roundoff.py)

if os.environ.get("PREFKIT_NATIVE_ROUNDOFF") != "1":
    os.environ.update(perturbed_roundoff_env())


REAL_MODEL_NOTEBOOKS = {"06_real_model.ipynb": "smollm2-135m"}
"""Notebooks that train a real model: skipped with the reason where that model is not installed (make model), and
run (and so fail, with the notebook's own message) under PREFKIT_REQUIRE_MODEL=1 (CI), as tests/test_smollm2.py
does for its tests."""


def pytest_collection_modifyitems(config, items):
    import pytest

    missing = {}
    for item in items:
        name = item.path.name if hasattr(item, "path") else ""
        alias = REAL_MODEL_NOTEBOOKS.get(name)
        if alias is None:
            continue
        if alias not in missing:
            from prefkit.models.catalog import installed_path

            missing[alias] = installed_path(alias) is None
        if missing[alias] and os.environ.get("PREFKIT_REQUIRE_MODEL") != "1":  # under CI it runs, and fails
            item.add_marker(pytest.mark.skip(
                reason=f"{name} needs {alias}, which is not installed: run `prefkit models get {alias}` (make model)"))
