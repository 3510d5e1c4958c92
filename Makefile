# Two commands do all the set-up on a fresh machine with Python and make:
#   make run   — virtualenv, install, migrate, demo data, web + worker + beat on http://127.0.0.1:8000
#   make test  — the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install run test lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

run: install
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py load_demo
	DEBUG=1 STAFF_MFA_REQUIRED=0 PATH="$(BIN):$$PATH" $(BIN)/honcho start -f Procfile.dev

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks on PostgreSQL (a database of their own; see README).
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/cmss_bench
bench: install
	$(BIN)/python -c "import psycopg; c = psycopg.connect('$(dir $(BENCH_DATABASE_URL))postgres', autocommit=True); name = '$(notdir $(BENCH_DATABASE_URL))'; c.execute(f'CREATE DATABASE "{name}"') if not c.execute('SELECT 1 FROM pg_database WHERE datname = %s', [name]).fetchone() else None"
	DATABASE_URL=$(BENCH_DATABASE_URL) $(BIN)/python -m bench.run

clean:
	rm -rf var/celery-queue var/celery-processed var/celerybeat-schedule*
