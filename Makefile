# The README's two commands: `make run` serves the API, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run https worker beat clients test test-fast bench image image-test lint typecheck format migrate secret lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The locks pin every package, with its hashes; pip installs exactly those.
PIP_INSTALL := $(BIN)/pip install --disable-pip-version-check -q --require-hashes

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(PIP_INSTALL) -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(PIP_INSTALL) -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# requirements.txt and requirements-dev.txt from the direct dependencies in
# requirements.in and requirements-dev.in; the dev lock keeps the runtime
# lock's versions. `make lock UPGRADE=--upgrade` moves to newer releases.
COMPILE := $(BIN)/uv pip compile -q --generate-hashes --python-version 3.11 \
	--custom-compile-command "make lock" --no-strip-extras $(UPGRADE)

lock: $(VENV)/.dev
	$(COMPILE) requirements.in -o requirements.txt
	$(COMPILE) requirements-dev.in --constraint requirements.txt -o requirements-dev.txt

# A random signing secret in .env, written only when there is none.
secret: | $(BIN)/python
	@grep -qs '^JWT_SECRET_KEY=' .env || \
	  $(BIN)/python -c 'import secrets; print("JWT_SECRET_KEY=" + secrets.token_urlsafe(48))' >> .env

migrate: $(VENV)/.runtime secret
	$(BIN)/flask db upgrade

run: migrate
	$(BIN)/gunicorn -c gunicorn.conf.py

# The production topology on this machine: nginx (HTTPS on HTTPS_PORT, 8443;
# HTTP on HTTP_PORT, 8080, redirecting) in front of gunicorn, with a throwaway
# certificate in .https/. Needs nginx (Debian: apt-get install nginx).
https: migrate
	$(BIN)/python -m deploy.https serve

# With CELERY_BROKER_URL set: the workers that send emails (as many as you
# like, on any host), and beat, which schedules the daily pruning of
# revocation records (exactly one per deployment).
worker: migrate
	$(BIN)/celery -A worker worker --loglevel=INFO --concurrency=$${WORKER_CONCURRENCY:-2}

beat: migrate
	$(BIN)/celery -A worker beat --loglevel=INFO

# newman, for the Postman collection test; without npm that test skips (CI has npm).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

NODE_DEPS := $(if $(shell command -v npm),node_modules/.installed)

# Typed clients made from the OpenAPI document, into the git-ignored
# generated/: a Python package (openapi-python-client) and TypeScript types
# (openapi-typescript), which tsc checks against clients/typescript/check.ts.
clients: $(VENV)/.dev node_modules/.installed secret
	mkdir -p generated/typescript
	$(BIN)/flask openapi write --format=json generated/openapi.json
	rm -rf generated/python
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/openapi-python-client generate \
	  --path generated/openapi.json --meta none \
	  --output-path generated/python/stores_api_client
	npx --no-install openapi-typescript generated/openapi.json \
	  -o generated/typescript/api.d.ts
	npx --no-install tsc -p clients/typescript

# The whole suite on every core (pytest-xdist), with branch coverage of the
# application code; below COVERAGE_FLOOR percent it fails (pyproject.toml
# says what is measured).
COVERAGE_FLOOR := 96
XDIST := -n auto --dist worksteal

test: $(VENV)/.dev $(NODE_DEPS)
	TEST_BACKENDS=sqlite,postgresql $(BIN)/pytest $(XDIST) --cov \
	  --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR)

# The quick loop while changing code: SQLite only, no real servers started,
# no coverage. `make test` is still the whole suite.
test-fast: $(VENV)/.dev
	TEST_BACKENDS=sqlite $(BIN)/pytest $(XDIST) -m "not slow"

# The API under gunicorn against a bare Flask ceiling, driven by wrk; writes
# bench/results.md. wrk comes from Debian's package when it is missing.
bench: $(VENV)/.runtime
	@command -v wrk >/dev/null || { apt-get update -q && apt-get install -y -q wrk; }
	$(BIN)/python bench/run.py

# The container image (Containerfile) as stores-api:latest, with podman, or docker
# where podman is missing. podman's default format, OCI, has no HEALTHCHECK;
# --format docker keeps it (docker writes that format anyway).
CONTAINER ?= $(if $(shell command -v podman),podman,docker)
IMAGE ?= stores-api:latest

image:
	$(CONTAINER) build $(if $(filter podman,$(notdir $(CONTAINER))),--format docker) \
	  -f Containerfile -t $(IMAGE) .

# The image built on a Debian base made here (debootstrap; no registry needed)
# and served from its own files: the migrations, gunicorn, its health check and
# the walk-through over HTTP (tests/test_image.py). Needs root, podman and
# debootstrap; prints the image's size and build time. Not part of `make test`.
image-test: $(VENV)/.dev
	$(BIN)/pytest -m image -s tests/test_image.py

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy on the application code (pyproject.toml: which modules, how strict).
typecheck: $(VENV)/.dev
	$(BIN)/mypy

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
