# personae: `make demo` runs the pipeline on demo data; `make test` runs the suite.
# Both set everything up on a fresh machine with Python 3.11 and make: the virtualenv,
# the package, and (for tests) Java for Spark and a PostgreSQL server from Debian packages.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo
DEMO_CUSTOMERS ?= 20000
PG_PORT ?= 54329
# test processes: CI has 2 cores; each runs its own DuckDB, Spark and browser, so more than the
# cores only makes them fight (the native pools are capped per process; on 2026-12-06 the
# suite took 18 m 21 s on 3 workers against 16 m 00 s on 2, on this 2-core machine)
TEST_WORKERS ?= 2
PG_DIR ?= /tmp/personae-pg-$(PG_PORT)
export PERSONAE_TEST_PG_DSN ?= postgresql://postgres@127.0.0.1:$(PG_PORT)/postgres
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint typecheck bench java chromium postgres postgres-stop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[spark,dev]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(BIN)/personae init $(DEMO_DIR) --demo --customers $(DEMO_CUSTOMERS)
	$(BIN)/personae run --workspace $(DEMO_DIR)
	$(BIN)/personae status --workspace $(DEMO_DIR)
	$(BIN)/personae destinations --workspace $(DEMO_DIR)
	$(BIN)/personae report --workspace $(DEMO_DIR) --out $(DEMO_DIR)/report.html
	@echo ""
	@echo "The report (one HTML file, works offline): $(DEMO_DIR)/report.html"
	@echo "Segments and traits went to $(DEMO_DIR)/out/segments (deltas/ and snapshot/, Parquet): see docs/destinations.md."
	@echo "Serve it (tracking API, profiles, change feed; API docs at http://127.0.0.1:8000/docs) and send an event"
	@echo "(the demo runs as of 2025-12-31, so the event is dated that day); it is applied at once:"
	@echo "  KEY=\$$($(BIN)/personae keys create --scope write --source app -w $(DEMO_DIR) | tail -1)"
	@echo "  $(BIN)/personae serve -w $(DEMO_DIR) &"
	@echo "  curl -u \"\$$KEY:\" -H 'Content-Type: application/json' -d '{\"userId\": \"u1\", \"event\": \"Signed Up\", \"timestamp\": \"2025-12-31T12:00:00Z\"}' http://127.0.0.1:8000/v1/track"
	@echo "  $(BIN)/personae profile user_id:u1 -w $(DEMO_DIR)"

test: $(STAMP) java chromium postgres
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadscope

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

java:
	@command -v java >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq default-jre-headless; }

chromium:
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq postgresql; }
	@PG_DIR=$(PG_DIR) PG_PORT=$(PG_PORT) sh scripts/postgres.sh start

postgres-stop:
	@PG_DIR=$(PG_DIR) PG_PORT=$(PG_PORT) sh scripts/postgres.sh stop

clean: postgres-stop
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
