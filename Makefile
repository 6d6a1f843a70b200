# The two commands a newcomer runs: `make demo` and `make test`.
# Each bootstraps what it needs: the virtualenv, the packages, redis-server,
# Java and the gcloud emulators.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The mypyc-compiled indicators (scripts/build-native.sh); pure Python if it cannot build.
NATIVE := src/tickcast/indicators/.native-stamp
DURATION ?=

.PHONY: demo test lint typecheck bootstrap system native clean lock

# The venv is installed from requirements.lock (every package pinned with its
# hashes, `make lock` regenerates it from pyproject.toml), then tickcast itself
# without resolving anything again.
LOCK := requirements.lock

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Recompile the lock after editing pyproject.toml's dependencies (keeps the
# other pins; `$(BIN)/python -m tickcast.deploy.lock --upgrade` moves them all).
lock: $(STAMP)
	$(BIN)/python -m tickcast.deploy.lock

system:
	@bash scripts/bootstrap.sh

# Rebuilt whenever an indicator source, the venv or the script changes, so a
# compiled module never stands in for edited source.
$(NATIVE): $(STAMP) $(wildcard src/tickcast/indicators/*.py) scripts/build-native.sh
	@bash scripts/build-native.sh

native: $(STAMP)
	@bash scripts/build-native.sh

bootstrap: $(STAMP) $(NATIVE) system

demo: bootstrap $(NATIVE)
	$(BIN)/tickcast demo $(if $(DURATION),--duration $(DURATION),)

test: bootstrap $(NATIVE)
	@bash scripts/bootstrap.sh --test
	$(BIN)/python -m pytest -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests functions scripts
	$(BIN)/ruff format --check src tests functions scripts

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build .tickcast .pytest_cache .mypy_cache .ruff_cache
	rm -f $(NATIVE) src/tickcast/indicators/*.so src/tickcast_indicators__mypyc.*.so
