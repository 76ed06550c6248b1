# `make demo` and `make test` work on a fresh machine with only Python 3.11.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
TROUPE := $(VENV)/bin/troupe
STAMP  := $(VENV)/.troupe-installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: this takes the CPU build; an unpinned torch pulls a CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(TROUPE) run experiment=federated debug=demo

test: $(STAMP)
	$(PY) -m pytest -q tests

# Flower lives in its own venv so the test venv stays exactly what CI installs.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: pyproject.toml benchmarks/requirements-flower.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q torch==2.13.0
	$(BENCH_VENV)/bin/python -m pip install -q -e . -r benchmarks/requirements-flower.txt
	touch $@

bench: $(STAMP) $(BENCH_VENV)/.installed
	$(PY) benchmarks/bench_ensemble.py
	$(BENCH_VENV)/bin/python benchmarks/bench_federated.py
	$(PY) benchmarks/bench_sweep.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
