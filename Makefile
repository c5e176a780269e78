# The two commands a newcomer needs: `make run` (the portal on http://127.0.0.1:8000) and `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: help run test lint format bench bench-scale clean

help:
	@echo "make run    install, migrate, create the admin user, serve on http://127.0.0.1:8000"
	@echo "make test   install the test tools and run the whole suite (DATABASE_URL=postgres://... for PostgreSQL)"
	@echo "make lint   ruff, the import layers (lint-imports) and the types (mypy)"
	@echo "make bench  run the benchmarks and print their table"
	@echo "make bench-scale  the pages at 1,000, 10,000 and 100,000 rooms, and how each figure grows"

$(PY):
	@python=$$(scripts/find-python.sh) && echo "Building $(VENV) with $$python" && "$$python" -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip

# Reinstall only when the dependencies change, so a second `make run` starts in seconds.
$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --editable .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --editable '.[dev]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	@scripts/run.sh

# The suite runs in parallel, a worker per core (pytest-xdist; each worker has its own test
# database); worksteal evens out the long tests. PYTEST_XDIST=0 runs it in one process.
PYTEST_XDIST ?= auto

test: $(VENV)/.installed-dev
	@scripts/install-browser.sh
	$(VENV)/bin/pytest -n $(PYTEST_XDIST) --dist worksteal $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(VENV)/.installed-dev
	$(PY) -m benchmarks

bench-scale: $(VENV)/.installed-dev
	$(PY) -m benchmarks --sizes 1000,10000,100000

clean:
	rm -rf $(VENV) var/staticfiles .pytest_cache
