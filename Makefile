# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: install install-dev demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	$(PY) -m trailmatch.warmup  # compile the numba kernels now, not in the first command
	touch $@

$(VENV)/.installed-dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[dev]"
	$(PY) -m trailmatch.warmup
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

demo: install
	$(VENV)/bin/trailmatch demo --out demo-output

test: install-dev
	$(VENV)/bin/ruff check trailmatch service tests benchmarks
	$(PY) -m pytest -q

bench: install-dev
	$(PIP) install -q -e ".[bench]"
	$(PY) -m pytest benchmarks -q --benchmark-only --benchmark-columns=min,median,max,rounds

clean:
	rm -rf $(VENV) demo-output .pytest_cache .benchmarks
