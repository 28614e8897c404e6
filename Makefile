# Release Registry: `make run` for a local server, `make test` for the test suite.

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTHON ?= $(shell command -v python3.11 || command -v python3)
PORT ?= 8000
PYTEST_ARGS ?=

MANAGE := $(PY) manage.py

.DEFAULT_GOAL := help
.PHONY: help bootstrap migrate run test lint format bench clean

help:
	@echo "make run     migrate, load examples/manifests, serve on http://127.0.0.1:$(PORT)/admin/"
	@echo "make test    run the test suite (PYTEST_ARGS=... passes options to pytest)"
	@echo "make lint    ruff check, ruff format --check, mypy"
	@echo "make format  ruff format and fix imports"
	@echo "make bench   benchmarks"
	@echo "make stack   the Procfile (gunicorn, Celery worker, beat) on local PostgreSQL and Redis"
	@echo "make clean   remove the virtualenv and tool caches (keeps db.sqlite3)"

# The virtualenv is rebuilt only when a requirements file changes.
$(STAMP): requirements/base.txt requirements/production.txt requirements/local.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements/local.txt
	touch $@

bootstrap: $(STAMP)

migrate: bootstrap
	$(MANAGE) migrate --noinput

# One line per example (findings as a count); `import_manifest -v 2` lists them.
run: migrate
	$(MANAGE) import_manifest examples/manifests --only-new
	$(PY) -m config.dev_superuser
	@echo "Admin: http://127.0.0.1:$(PORT)/admin/  login: admin / admin"
	$(MANAGE) runserver 127.0.0.1:$(PORT)

# pytest-django makes its own test database: the development one (db.sqlite3) is not touched.
test: bootstrap
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: bootstrap
	$(VENV)/bin/ruff check --select I --fix .
	$(VENV)/bin/ruff format .

bench: bootstrap
	$(PY) bench/run.py
	$(PY) bench/api.py
	$(PY) bench/load.py
	$(PY) bench/gitops.py
	$(PY) bench/validation.py
	$(PY) bench/notion.py
	$(PY) bench/changes.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# The production shape on one machine: the Procfile's release step (migrate, collectstatic),
# then web, worker and beat under honcho, on a local PostgreSQL and Redis (README, "The stack
# on one machine"). The environment and .env override these defaults; STACK_CONCURRENCY=worker=2
# runs more; the web processes listen from STACK_PORT on (honcho's 5000).
.PHONY: stack
STACK_CONCURRENCY ?= web=1,worker=1,beat=1
STACK_PORT ?= 5000
stack: export PATH := $(abspath $(VENV))/bin:$(PATH)
stack: export DJANGO_SETTINGS_MODULE := config.settings.production
stack: export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/release_registry
stack: export REDIS_URL ?= redis://127.0.0.1:6379/0
stack: export DJANGO_SECRET_KEY ?= make-stack-on-one-machine-not-a-secret-0123456789abcdef
stack: export DJANGO_ALLOWED_HOSTS ?= localhost,127.0.0.1
stack: export DJANGO_SECURE_SSL_REDIRECT ?= false
stack: bootstrap
	$(VENV)/bin/honcho --no-prefix start release
	$(VENV)/bin/honcho start --port $(STACK_PORT) --concurrency $(STACK_CONCURRENCY) web worker beat
