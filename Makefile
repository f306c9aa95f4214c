# Two entry points a new user needs: `make run` and `make test`.
# Both create the virtual environment (.venv) on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench clean

$(STAMP): pyproject.toml plugins/clvframe-example/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]" -e plugins/clvframe-example
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/clvframe run

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check clvframe plugins tests benchmarks
	$(BIN)/ruff format --check clvframe plugins tests benchmarks

bench: setup
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) mlflow.db mlruns multirun outputs .pytest_cache
