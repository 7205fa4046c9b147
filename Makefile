# `make run` and `make test` set everything up on a fresh machine (a .venv beside this file).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SOURCES := core tui_gan tests bench $(wildcard examples)

.PHONY: run test test-quick bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tui-gan $(ARGS)

# Lint first: CI catches what review would. Then every test, spread over the cores.
test: lint
	$(BIN)/python -m pytest -q -n auto $(PYTEST_ARGS)

# Everything but the tests that start processes (marked `slow`): under a minute on 2 cores.
test-quick: $(STAMP)
	$(BIN)/python -m pytest -q -n auto -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/tui_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache
