# modelgov: the two commands are `make demo` and `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash
PY := .venv/bin/python
DEMO_ENV := DJANGO_DEBUG=1 CELERY_TASK_ALWAYS_EAGER=1
HOST ?= 127.0.0.1
PORT ?= 8000
# Two pytest-xdist workers, each on its own test database (ADR 0028).
# PYTEST_XDIST= runs the suite in one process.
PYTEST_XDIST ?= -n 2

.PHONY: help demo test test-fast lint typecheck bootstrap-demo bootstrap-test services clean-demo

help:
	@echo "make demo   set up, load the demo (SQLite) and serve on http://$(HOST):$(PORT)"
	@echo "make test   set up, start PostgreSQL and Redis, run ruff and the whole test suite"
	@echo "make test-fast  the inner loop: no browser, process-killing, broker or benchmark tests"

bootstrap-demo:
	@scripts/bootstrap.sh demo

bootstrap-test:
	@scripts/bootstrap.sh test

services:
	@scripts/services.sh

demo: bootstrap-demo
	@mkdir -p var
	$(DEMO_ENV) $(PY) manage.py migrate --no-input -v 0
	$(DEMO_ENV) $(PY) manage.py demo
	@# The ledger sequencer runs beside the web server (what beat does in production).
	$(DEMO_ENV) $(PY) manage.py ledger_sequencer --interval 1 & SEQ=$$!; \
	trap 'kill $$SEQ 2>/dev/null' EXIT INT TERM; \
	$(DEMO_ENV) $(PY) manage.py runserver $(HOST):$(PORT)

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck:
	.venv/bin/mypy governance registry audits

test: bootstrap-test services lint typecheck
	.venv/bin/pytest -p no:cacheprovider $(PYTEST_XDIST) $(PYTEST_ARGS)

clean-demo:
	rm -f var/modelgov.sqlite3
	rm -rf var/artifacts

# The inner loop: everything but the browser (e2e), fault-injection, real-broker and
# benchmark tests, which `make test` runs. Pass files or -k with PYTEST_ARGS.
test-fast: bootstrap-test services
	.venv/bin/pytest -p no:cacheprovider $(PYTEST_XDIST) -m "not e2e and not fault and not celery_broker" \
		--ignore-glob='tests/governance/test_bench*.py' $(PYTEST_ARGS)
