# mlsys: `make demo` runs the main job, `make test` runs the tests. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MLSYS_HOME ?= $(CURDIR)/.mlsys
# Without cached bytecode every process (each Dagster run, each server) recompiles dagster,
# mlflow and pandas on start: ~20 s each on two cores.
unexport PYTHONDONTWRITEBYTECODE

.DEFAULT_GOAL := help
.PHONY: help install services demo test test-fast test-not-slow lint fmt dev ui serve bench protos clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --compile-bytecode --python $(BIN)/python -e '.[dev,spark]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install mlsys with its dev tools

services: ## install and start PostgreSQL and Redis on 127.0.0.1 (OS packages, idempotent)
	bash scripts/services.sh

# DEMO_ARGS: e.g. --quick --api-port 18000 (the demo stops with make: Ctrl-C or SIGTERM)
DEMO_ARGS ?=
demo: install ## the main job on the embedded default; leaves the UIs up until Ctrl-C
	$(BIN)/mlsys demo --keep-running $(DEMO_ARGS)

# TEST_WORKERS: pytest-xdist workers (0: one process); tests/conftest.py keeps the tests that
# start a live system on one worker, one after another.
TEST_WORKERS ?= 2
test: install ## every test, slow end-to-end ones included
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

test-fast: install ## the unit tier (tests/unit: no MLflow/XGBoost, in-memory stores), seconds
	$(BIN)/python -m pytest -m unit tests/unit -p no:schemathesis -p no:faker -p no:typeguard -p no:hypothesispytest

test-not-slow: install ## every test not marked slow
	$(BIN)/python -m pytest -m "not slow"

lint: install ## ruff, imports one way (import-linter), no unused code (vulture)
	$(BIN)/ruff check mlsys_assets serving tests benchmarks
	$(BIN)/ruff format --check mlsys_assets serving tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/vulture

fmt: install ## format and autofix
	$(BIN)/ruff format mlsys_assets serving tests benchmarks
	$(BIN)/ruff check --fix mlsys_assets serving tests benchmarks

ui: install ## Dagster webserver + daemon and the MLflow UI on MLSYS_HOME
	$(BIN)/mlsys ui

protos: ## regenerate the committed Open Inference Protocol v2 gRPC stubs (serving/v2/proto/)
	bash scripts/gen_protos.sh

bench: install ## every benchmark in benchmarks/
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean: ## delete MLSYS_HOME (the whole local world) and caches
	rm -rf $(MLSYS_HOME) .pytest_cache .ruff_cache .test-cache .import_linter_cache
