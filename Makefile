# One command set for people and CI: .ci/run calls `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-sqlite test-postgis lint format bench clean web browser postgis

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The web UI (web/, TypeScript + OpenLayers) built by Vite into src/clearland/web/static/,
# which the package ships and `clearland serve` serves; rebuilt when its sources change.
WEB_BUILT := src/clearland/web/static/index.html
WEB_DEPS := web/node_modules/.package-lock.json
WEB_SOURCES := $(shell find web/src -type f) web/index.html web/vite.config.ts web/tsconfig.json

$(WEB_DEPS): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund

$(WEB_BUILT): $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npm run build

web: $(WEB_BUILT)

# The browser tests drive Debian's Chromium: installed with apt-get when it is missing.
browser:
	sh scripts/ensure_chromium.sh

# Install, create the synthetic demo registry and show what it holds.
demo: $(STAMP) web
	$(BIN)/clearland --db demo.db demo --force
	$(BIN)/clearland --db demo.db stats
	@echo "Demo registry (synthetic data) in demo.db; try: $(BIN)/clearland --db demo.db hazards list"
	@echo "The map is at http://127.0.0.1:8000 (the API: http://127.0.0.1:8000/?f=html; Ctrl-C to stop)"
	$(BIN)/clearland --db demo.db serve --host 127.0.0.1 --port 8000

# The PostGIS pass starts its own throwaway PostgreSQL 15 + PostGIS 3 cluster (tests/pgcluster.py),
# installed with apt-get when missing.
postgis:
	sh scripts/ensure_postgis.sh

# The whole suite twice: on SQLite files, then on PostgreSQL + PostGIS (where a skip fails).
test: test-sqlite test-postgis

test-sqlite: $(STAMP) web browser
	$(BIN)/python -m pytest -q

test-postgis: $(STAMP) web browser postgis
	$(BIN)/python -m pytest -q --postgis

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
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache \
		web/node_modules src/clearland/web/static tests/web/out
