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
