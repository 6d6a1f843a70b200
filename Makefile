# The two commands a newcomer runs: `make demo` and `make test`.
# Each bootstraps what it needs: the virtualenv, the packages, redis-server,
# Java and the gcloud emulators.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DURATION ?=

.PHONY: demo test lint typecheck bootstrap system clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system:
	@bash scripts/bootstrap.sh

bootstrap: $(STAMP) system

demo: bootstrap
	$(BIN)/tickcast demo $(if $(DURATION),--duration $(DURATION),)

test: bootstrap
	$(BIN)/python -m pytest -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests functions scripts
	$(BIN)/ruff format --check src tests functions scripts

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build .tickcast .pytest_cache .mypy_cache .ruff_cache
