# Two commands do all the set-up on a fresh machine with Python and make:
#   make run   — virtualenv, install, migrate, demo data, web + worker + beat on http://127.0.0.1:8000
#   make test  — the whole suite
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: install run test test-dates lint typecheck migrations-check check format bench clean

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

# No test may depend on the day it runs: the suite again with the clock moved (time-machine, ticking) to
# a leap-day evening, the half hour before each DST change and New Year's Eve, all in Brussels time.
# Chromium and the subprocesses of the deployed tier keep the real clock: those tiers are left out.
# Everything but the slow tiers where no date is involved (crawls, fuzzing, role tables, thread races).
DATE_TESTS ?= tests --ignore=tests/test_hostile_crawl.py --ignore=tests/test_hostile_input.py \
	--ignore=tests/clinicians/test_registration_fuzz.py --ignore=tests/test_urls_by_role.py \
	--ignore=tests/test_admin_forms.py --ignore=tests/conferences/test_webinar_concurrency.py
CLOCKS ?= 2028-02-29T23:30:00+01:00 2027-03-28T01:30:00+01:00 2027-10-31T02:30:00+02:00 2026-12-31T23:30:00+01:00
test-dates: install
	@for clock in $(CLOCKS); do \
		echo "== make test with the clock at $$clock"; \
		$(BIN)/python -m pytest -q --clock=$$clock $(DATE_TESTS) || exit 1; \
	done

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

migrations-check: install
	DATABASE_URL= DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

# What CI runs before the tests.
check: lint typecheck migrations-check

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
