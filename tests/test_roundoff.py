"""Stored notebook outputs carry no round-off digits (docs/design.md, "Testing").

The repository's conftest.py runs every notebook kernel on code paths one step below this machine's best, so
that round-off differs from the machine that stored the outputs. These tests check that the perturbation is
in force and really changes round-off, that it turns a round-off print into an nbval failure (and the
precision-aware print into a pass), and that no compared output prints a round-off-sized number.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from prefkit.evaluate import format_error
from roundoff import VARIABLES, perturbed_roundoff_env

ROOT = Path(__file__).resolve().parent.parent

# A softmax in float64 (torch's vectorized exp and sum), a float32 matrix product (MKL) and a float32 exp
# summed by numpy: each has round-off that depends on the code path.
PROBE = textwrap.dedent("""
    import numpy as np, torch
    torch.set_num_threads(1)
    x = torch.arange(1, 100001, dtype=torch.float64) / 1e4
    a = torch.linspace(-1, 1, 256 * 256, dtype=torch.float32).reshape(256, 256)
    e = np.exp(np.linspace(0, 1, 10001, dtype=np.float32)).astype(np.float64).sum()
    print(repr(torch.softmax(x, 0).max().item()), repr((a @ a.T).sum().item()), repr(float(e)))
""")


def _native_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in VARIABLES}


def _run_probe(env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                          check=True).stdout


needs_perturbation = pytest.mark.skipif(
    os.environ.get("PREFKIT_NATIVE_ROUNDOFF") == "1", reason="PREFKIT_NATIVE_ROUNDOFF=1: kernels run natively")


@needs_perturbation
def test_notebook_kernels_get_another_cpus_roundoff():
    env = perturbed_roundoff_env()
    assert env["ATEN_CPU_CAPABILITY"] in ("avx2", "default")
    for name, value in env.items():
        assert os.environ.get(name) == value, f"conftest.py did not set {name} for the notebook kernels"
    if env["ATEN_CPU_CAPABILITY"] == "default" and "NPY_DISABLE_CPU_FEATURES" not in env:
        pytest.skip("this CPU has no vector code path below its own to move to (not x86-64 with AVX2)")
    native, moved = _run_probe(_native_env()), _run_probe(dict(os.environ))
    assert native != moved, f"the perturbation left round-off unchanged: {native!r}"


def _notebook(tmp_path: Path, line: str) -> Path:
    """A one-cell notebook printing ``line``, executed on this machine's own code paths (as a notebook's stored
    outputs are made)."""
    nb = nbformat.v4.new_notebook()
    setup = ("import torch\nfrom prefkit.evaluate import format_error\ntorch.set_num_threads(1)\n"
             "p = torch.softmax(torch.arange(1, 100001, dtype=torch.float64) / 1e4, 0).max().item()\n"
             "a = torch.linspace(-1, 1, 256 * 256).reshape(256, 256)\n"
             "m = (a @ a.T).sum().item()\n")
    nb.cells = [nbformat.v4.new_code_cell(setup + line)]
    path = tmp_path / f"probe_{abs(hash(line))}.ipynb"
    old, native = dict(os.environ), _native_env()
    try:
        os.environ.clear()
        os.environ.update(native)
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    nbformat.write(nb, path)
    return path


def _nbval(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                           "--nbval-current-env", "-o", "addopts=", "-o", "testpaths=", str(path)],
                          cwd=path.parent, env=dict(os.environ), capture_output=True, text=True)


@needs_perturbation
@pytest.mark.slow
def test_a_roundoff_print_fails_under_the_perturbation_and_a_precise_print_passes(tmp_path):
    if _run_probe(_native_env()) == _run_probe(dict(os.environ)):
        pytest.skip("the perturbation does not change round-off on this CPU")
    raw = _notebook(tmp_path, "print(p - 1e-4, m)")        # -4.6e-10 and 85.33...: digits of round-off
    precise = _notebook(tmp_path, "print(format_error(p - 9.999954013876e-05), f'{m:.1f}')")
    failed = _nbval(raw)
    assert failed.returncode == 1 and "Cell outputs differ" in failed.stdout + failed.stderr, failed.stdout[-2000:]
    passed = _nbval(precise)
    assert passed.returncode == 0, passed.stdout[-2000:]


def test_format_error_prints_round_off_as_a_bound():
    assert format_error(1.28e-15) == format_error(-6.69e-15) == "< 1e-12"
    assert format_error(2.47e-6) == "2.47e-06"
    assert format_error(3e-9, tol=1e-8) == "< 1e-08"
    assert format_error(3e-9, tol=1e-10) == "3.00e-09"


# numbers in scientific notation at or below 1e-10: in a stored output these are round-off, not results
# (a bound such as "< 1e-12", as format_error prints it, is not)
ROUNDOFF = re.compile(r"(?<![\w.<])(?<!< )\d(\.\d+)?e-(1\d|[2-9]\d|\d{3})\b")
NOTEBOOKS = sorted(p for d in ("chapters", "labs", "tests/notebooks") for p in (ROOT / d).glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_no_compared_output_prints_a_round_off_sized_number(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code" or "# NBVAL_IGNORE_OUTPUT" in "".join(cell["source"]):
            continue
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", [])) + "".join(out.get("data", {}).get("text/plain", []))
            found += [f"cell {i}: {m.group(0)}" for m in ROUNDOFF.finditer(text)]
    assert not found, (f"{path.relative_to(ROOT)} prints round-off, which differs between machines: {found}. "
                       "Print it with prefkit.evaluate.format_error and assert the bound in code.")
