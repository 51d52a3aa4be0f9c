# Each target sets up what it needs: a fresh clone runs `make demo` or `make test` directly.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint format-check bench gpu-check install docs docs-noplot

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m skbatch.demo

# The linter and the formatter's check run first, in seconds, so a style
# error fails before minutes of tests.
LINT := $(PY) -m ruff check . && $(PY) -m ruff format --check .

test: $(STAMP)
	$(LINT)
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(LINT)
	$(PY) -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(LINT)

# `ruff format .` rewrites the files this check finds.
format-check: $(STAMP)
	$(PY) -m ruff format --check .

bench: $(STAMP)
	$(PY) benchmarks/bench_fit_overhead.py
	$(PY) benchmarks/bench_parallel_search.py
	$(PY) benchmarks/bench_fused_cv.py
	$(PY) benchmarks/bench_seed_grid.py --skip-unfused --repeats 3
	$(PY) benchmarks/bench_sparse_speed.py
	$(PY) benchmarks/bench_target_scaling.py

# Every GPU check in one run (gpu-marked tests and GPU benchmarks, one line per
# figure); says so and exits 0 where there is no CUDA device.
gpu-check: $(STAMP)
	$(PY) benchmarks/gpu_check.py

# The site, with every example run for its figures (sphinx-build -W: warnings fail the build).
docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

# The same site without running the examples: seconds instead of minutes.
docs-noplot: $(STAMP)
	$(PY) -m sphinx -W --keep-going -b html -D plot_gallery=0 docs docs/_build/html
