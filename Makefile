# Two commands set everything up on a fresh machine:
#   make run    the whole relay in one local process (capi serve)
#   make test   lint, unit and integration tests, Terraform checks
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080

.PHONY: run test lint format emulator-setup bench clean lock

# CAPI_PIP_LOCK=requirements-ci.lock (the Cloud Build test build): every package, the build
# backend included, from the lock with its hash; nothing else is downloaded.
$(BIN)/capi: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
ifdef CAPI_PIP_LOCK
	$(BIN)/pip install -q --require-hashes -r $(CAPI_PIP_LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
else
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt -e .
endif
	touch $@

run: $(BIN)/capi
	$(BIN)/capi serve --port $(PORT)

lint: $(BIN)/capi
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/capi
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	terraform fmt -recursive terraform

# Meta's Node business SDK, pinned by tests/node/package-lock.json, for the drop-in Graph route's
# tests (skipped without npm; under CI=true a missing SDK fails the tests that need it).
NODE_SDK := $(if $(shell command -v npm),tests/node/node_modules/.installed)
tests/node/node_modules/.installed: tests/node/package.json tests/node/package-lock.json
	npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
	touch $@

# The schema-only stand-in providers that let real `terraform validate` / `terraform test` run
# offline (tests/terraform/standin_provider) use the `tf` package, which pins protobuf below 6:
# they get an environment of their own.
TFVENV ?= .venv-tf
$(TFVENV)/bin/python: requirements-tf.txt requirements-tf.lock
	$(PYTHON) -m venv $(TFVENV)
ifdef CAPI_PIP_LOCK
	$(TFVENV)/bin/pip install -q --require-hashes -r requirements-tf.lock
else
	$(TFVENV)/bin/pip install -q -r requirements-tf.txt
endif
	touch $@

test: lint $(TFVENV)/bin/python $(NODE_SDK)
	$(BIN)/pytest

emulator-setup: $(BIN)/capi
	$(BIN)/capi emulator-setup

bench: $(BIN)/capi
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_normalize.py
	$(BIN)/python bench/load_e2e.py

clean:
	rm -rf $(VENV) $(TFVENV) .pytest_cache .ruff_cache

# Regenerate requirements-ci.lock (hashes of every test and tool dependency) after changing
# requirements.txt or requirements-dev.txt.
lock:
	$(PYTHON) -m venv .piptools && .piptools/bin/pip install -q pip-tools
	.piptools/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-index-url --output-file requirements-ci.lock requirements-ci.in
	.piptools/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-index-url --output-file requirements-tf.lock requirements-tf.txt
	sed -i '/^--find-links/d' requirements-ci.lock requirements-tf.lock
