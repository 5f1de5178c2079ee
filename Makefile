# One entry point for people and CI. `make demo` and `make test` are the README's quick start.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins its own versions of boto3 and friends, so it gets a virtual environment of its own.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .tools/checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
SAMPLE ?= samples/orders.csv
CDK_CLI_VERSION := 2.1148.1

.PHONY: demo test lint typecheck unit synth bench clean

# The virtual environment, rebuilt when the project's dependencies change.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# Set up, then run the bundled sample through the pipeline on the embedded local environment.
demo: $(STAMP)
	$(BIN)/pipeline run $(SAMPLE)

# Set up, then run every gate CI runs: lint (with the import rules), types, and the whole test suite
# (scans included).
test: lint typecheck $(CHECKOV)
	PIPELINE_CHECKOV=$(CHECKOV) $(BIN)/python -m pytest -n 2 --dist loadfile

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

# The fast suite only: pure logic, no AWS emulation.
unit: $(STAMP)
	$(BIN)/python -m pytest -m unit

# The transform benchmark against DuckDB, and the handlers' import times (README, "Benchmark").
# Inputs are generated once into .bench/data; a full run takes about 15 minutes.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.transform

# Synthesize the deployable template into cdk.out (bundles the Lambda asset: wheels from PyPI, the
# C extension cross-compiled by Zig; needs neither AWS nor Docker).
synth: $(STAMP)
	npx --yes aws-cdk@$(CDK_CLI_VERSION) synth --quiet

clean:
	rm -rf $(VENV) .tools .pipeline cdk.out .pytest_cache .mypy_cache .ruff_cache
