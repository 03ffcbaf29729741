# Two entry points for a fresh machine: `make demo` and `make test`.
# Both create (or reuse) the virtual environment in $(VENV) and install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# torch is installed first and pinned: `torch==2.13.0` is the CPU build kept on this
# machine's disk; a bare `torch` requirement would pull a CUDA build of several GB.
TORCH_SPEC ?= torch==2.13.0
REPORT ?= skgrad-report
# two pytest workers; an idle one steals queued tests from the other (worksteal), so that
# both end together: with xdist's default batches one worker got every long test and ran
# 306 s while the other ended at 143 s.  tests/conftest.py deals the long test modules to
# the two halves that worksteal hands out, and gives each worker one OpenMP thread per core.
PYTEST_ARGS ?= -n 2 --dist worksteal

.PHONY: demo test docs bench venv clean

venv: $(VENV)/.torch

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	touch $@

$(VENV)/.torch: $(VENV)/.created
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install "$(TORCH_SPEC)"
	touch $@

$(VENV)/.installed-%: setup.cfg pyproject.toml $(VENV)/.torch
	$(PIP) install -e ".[$*]"
	touch $@

demo: $(VENV)/.installed-examples
	$(VENV)/bin/skgrad demo --output $(REPORT)

# Kernels of another x86-64 CPU (no AVX, SSE4.1 oneDNN, SSE4.2 MKL): features must not
# depend on the machine's fastest instruction set beyond float32 rounding.
EMULATED_CPU = ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 DNNL_MAX_CPU_ISA=SSE41

test: $(VENV)/.installed-test
	$(PY) -m pytest $(PYTEST_ARGS)
	@echo "--- the estimator checks and invariance tests again, on emulated SSE4 kernels ($(EMULATED_CPU))"
	$(EMULATED_CPU) $(PY) -m pytest -q -p no:cacheprovider tests/test_estimator_checks.py tests/test_invariance.py

# Warnings are errors and every cross-reference must resolve (-n); the gallery runs the
# examples (a few minutes on 2 cores).  No network needed (see docs/conf.py).
docs: $(VENV)/.installed-test
	$(PY) -m sphinx -W -n --keep-going -b html docs docs/_build/html

bench: $(VENV)/.installed-examples
	$(PY) benchmarks/bench_gradients.py

# everything the targets above write: the venv, the report, and what `make docs` generates
clean:
	rm -rf $(VENV) $(REPORT) *.egg-info docs/_build docs/generated docs/auto_examples docs/sg_execution_times.rst
