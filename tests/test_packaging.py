"""The kit installs as documented: pyproject, environment.yml, Makefile, README and CI agree."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    pip_section = [d for d in deps if isinstance(d, dict)]
    assert pip_section == [{"pip": ["-e .[dev]"]}]
    conda = {}
    for d in deps:
        if isinstance(d, str) and d not in ("pip",):
            name, spec = re.match(r"([A-Za-z0-9_.\-]+)(.*)", d).groups()
            conda[CONDA_NAMES.get(name, name).lower().replace("_", "-")] = spec
    assert conda.pop("python") == ">=3.10"
    runtime = {Requirement(r).name.lower().replace("_", "-"): str(Requirement(r).specifier)
               for r in _pyproject()["project"]["dependencies"]}
    assert set(conda) == set(runtime)
    for name, spec in runtime.items():
        assert sorted(conda[name].split(",")) == sorted(spec.split(",")), name


def test_lower_bounds_only_except_trl():
    project = _pyproject()["project"]
    reqs = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]
    for req in reqs:
        ops = {s.operator for s in req.specifier}
        if req.name == "trl":
            assert ops == {"=="} and str(req.specifier).startswith("==1.16."), "TRL is pinned to 1.16.x"
        else:
            assert ops <= {">=", "<"}, f"{req.name}: lower bounds (and major caps) only, got {req.specifier}"
    names = {r.name for r in reqs}
    assert {"torch", "transformers", "datasets", "accelerate", "safetensors", "tqdm", "numpy", "matplotlib",
            "ipywidgets", "jupyterlab", "pytest", "nbval", "playwright", "trl"} <= names
    assert project["scripts"]["prefkit"] == "prefkit.cli:main"


def test_readme_quickstart_is_two_commands_and_ci_calls_make_test():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", quick, re.S).group(1)
    commands = [ln for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert commands == ["make lab", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", ci, re.M)


def test_makefile_never_lets_pip_choose_torch_blindly():
    make = (ROOT / "Makefile").read_text()
    torch_step = make.index("torch==2.13.0")
    kit_step = make.index('install -q -e ".[dev]"')
    assert torch_step < kit_step, "torch must be installed before the kit pulls it in"
    assert "--no-deps --no-index" in make  # the local CPU wheel is detected without touching a registry


def test_make_test_runs_whole_files_on_one_torch_thread_per_worker():
    """Plain ``-n 2`` would split one notebook's cells across two kernels: the workers must get whole files."""
    make = (ROOT / "Makefile").read_text()
    xdist = re.search(r"^XDIST := (.*)$", make, re.M).group(1)
    assert "-n $(JOBS) --dist loadfile" in xdist and re.search(r"^JOBS \?= 2$", make, re.M)
    assert "OMP_NUM_THREADS=1" in re.search(r"^TEST_ENV := (.*)$", make, re.M).group(1)
    for target in ("test", "test-fast"):
        recipe = re.search(rf"^{target}: \$\(STAMP\)[^\n]*\n\t(.*)$", make, re.M).group(1)
        assert recipe.startswith("$(TEST_ENV) $(PY) -m pytest") and "$(XDIST)" in recipe, recipe
    fast = re.search(r"^test-fast: \$\(STAMP\)\n\t(.*)$", make, re.M).group(1)
    assert '-m "not slow and not browser"' in fast and '--ignore-glob="*.ipynb"' in fast
    dev = {Requirement(r).name for r in _pyproject()["project"]["optional-dependencies"]["dev"]}
    assert "pytest-xdist" in dev
