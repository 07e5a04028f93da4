"""Another CPU's round-off on this machine: the environment that conftest.py gives every notebook kernel.

See the repository's conftest.py and docs/design.md, "Testing".
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys

VARIABLES = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "NPY_DISABLE_CPU_FEATURES")
"""What the perturbation may set; a native child process is started without them."""
# torch's CPU capability levels and MKL's instruction sets, best first
_ATEN = ["avx512", "avx2", "default"]
_MKL = {"avx512": "AVX2", "avx2": "SSE4_2", "default": "SSE4_2"}


def _probe() -> tuple[str, list[str]]:
    """This machine's torch CPU capability and the numpy SIMD targets it dispatches to, in a clean child
    process, so that variables already set here do not colour the answer."""
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    code = ("import torch\ntry:\n import numpy._core._multiarray_umath as m\nexcept ImportError:\n"
            " import numpy.core._multiarray_umath as m\nprint(torch.backends.cpu.get_cpu_capability())\n"
            "print(' '.join(f for f in m.__cpu_dispatch__ if m.__cpu_features__.get(f)))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    capability, features = out.splitlines()
    return capability.strip().lower(), features.split()


@functools.lru_cache(maxsize=None)
def _perturbed() -> tuple[tuple[str, str], ...]:
    capability, features = _probe()
    level = capability if capability in _ATEN else "default"
    lower = _ATEN[min(_ATEN.index(level) + 1, len(_ATEN) - 1)]
    env = {"ATEN_CPU_CAPABILITY": lower, "MKL_ENABLE_INSTRUCTIONS": _MKL[level]}
    # numpy: switch off the best tier of SIMD loops found (AVX-512, else AVX2); only dispatch targets may be named
    tiers = [[f for f in features if "512" in f or f == "X86_V4"],
             [f for f in features if f in ("X86_V3", "AVX2", "FMA3", "AVX")]]
    top = next((tier for tier in tiers if tier), [])
    if top:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(top)
    return tuple(env.items())


def perturbed_roundoff_env() -> dict[str, str]:
    """Environment variables that give this machine another CPU's round-off (one level below its best); probed
    once per process."""
    return dict(_perturbed())
