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

# One pytest worker more than cores: many tests wait on processes they started, and the extra
# worker fills those waits. Whole files go to one worker, so a module's trained-run fixture is
# made once (on 2 cores: 3:31 instead of 5:05 for `test`, 52 s instead of 67 s for `test-quick`).
WORKERS := $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
PYTEST := $(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile

# Lint first: CI catches what review would. Then every test, spread over the cores.
test: lint
	$(PYTEST) $(PYTEST_ARGS)

# Everything but the tests that start processes (marked `slow`): under a minute on 2 cores.
# None of them uses Hypothesis, whose plugin would import it at the end anyway (1.7 s).
test-quick: $(STAMP)
	$(PYTEST) -m "not slow" -p no:hypothesispytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/tui_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache
