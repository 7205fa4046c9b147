# `make run` and `make test` set everything up on a fresh machine (a .venv beside this file).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tui-gan $(ARGS)

test: $(STAMP)
	$(BIN)/ruff check core tui_gan tests bench
	$(BIN)/python -m pytest -q -n auto $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/tui_throughput.py

lint: $(STAMP)
	$(BIN)/ruff check core tui_gan tests bench

clean:
	rm -rf $(VENV) .pytest_cache
