# The two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench sandbox clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# examples/medical_insurance: the worked example of an adapter plugin (docs/adapters.md), tested by `make test`.
$(STAMP): $(BIN)/python pyproject.toml examples/medical_insurance/pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]' -e examples/medical_insurance
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hedui demo

sandbox: $(STAMP)
	$(BIN)/hedui sandbox

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check gateway adapters tests examples $(wildcard bench)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# Run the suite (or TESTS=...) REPEAT times, stopping at the first failure: timing races show up here.
.PHONY: test-repeat
REPEAT ?= 3
TESTS ?= tests
test-repeat: $(STAMP)
	for run in $$(seq $(REPEAT)); do echo "run $$run of $(REPEAT)"; $(BIN)/python -m pytest -q -x -p no:cacheprovider $(TESTS) || exit 1; done
