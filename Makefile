# One command set for people and CI: .ci/run calls `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Install, create the synthetic demo registry and show what it holds.
demo: $(STAMP)
	$(BIN)/clearland --db demo.db demo --force
	$(BIN)/clearland --db demo.db stats
	@echo "Demo registry (synthetic data) in demo.db; try: $(BIN)/clearland --db demo.db hazards list"
	@echo "Serving it at http://127.0.0.1:8000 (OGC API - Features; Ctrl-C to stop)"
	$(BIN)/clearland --db demo.db serve --host 127.0.0.1 --port 8000

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python bench/import.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
