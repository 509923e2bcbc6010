# Two commands on a fresh machine: `make demo` and `make test`. Everything else is plumbing.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON := $(shell $(PYTHON) -c "import sys; print(sys.executable)")
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy

.PHONY: demo test lint unit protos bench sdk mutation sync sync-runtime chromium java clean

# uv itself is pinned and lives in its own small venv so `uv sync` never removes it.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check 'uv==0.13.8'

sync-runtime: $(UV)
	$(UV) sync --frozen --inexact --no-default-groups

# The dev environment has the optional Spark engine too (`make test` runs it on both engines).
sync: $(UV)
	$(UV) sync --frozen --extra spark

demo: sync-runtime
	$(BIN)/dataward demo --faces tests/fixtures/faces

lint: sync
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python tools/check_imports.py
	$(BIN)/python tools/protos.py --check
	$(BIN)/buf lint
	$(BIN)/buf breaking --against '.git#branch=main'

protos: sync
	$(BIN)/python tools/protos.py

# Debian's chromium for the browser tests; `playwright install` cannot work here.
chromium:
	@command -v /usr/bin/chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Debian's Java runtime for the Spark engine's tests (pyspark 4 needs Java 17 or newer).
java:
	@command -v java >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }

# The browser tests save their screenshots under $PYTEST_ARTIFACTS/screenshots (default .artifacts).
unit: sync chromium java
	$(BIN)/pytest --artifacts "$${PYTEST_ARTIFACTS:-.artifacts}"

test: lint unit

bench: sync
	$(BIN)/python -m bench

# The partner SDK alone (sdk/pyproject.toml): build the wheel, install it into a clean venv and
# print its install size and every distribution it brings (EXTRAS=query for pyarrow too).
sdk: sync
	$(BIN)/python tools/sdk_wheel.py $(if $(EXTRAS),--extras $(EXTRAS))

# Mutation testing of the security-critical modules ([tool.mutmut] in pyproject.toml) against
# their own unit tests: about ten minutes on two cores, so not part of `make test`. Fails when
# a module scores below 90% (equivalent mutants excluded, each listed with its reason).
mutation: sync
	rm -rf mutants
	$(BIN)/mutmut run --max-children $$(nproc)
	$(BIN)/python tools/mutation_score.py

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache mutants
