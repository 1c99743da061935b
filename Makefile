# Two commands set everything up on a fresh machine:
#   make run    the whole relay in one local process (capi serve)
#   make test   lint, unit and integration tests, Terraform checks
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8080

.PHONY: run test test-fast lint format emulator-setup bench clean lock

# `make run` installs what the relay needs (requirements.txt and the package); `make test` adds the
# test and tool dependencies (requirements-dev.txt: checkov, schemathesis, the SDKs...).
# CAPI_PIP_LOCK=requirements-ci.lock (the Cloud Build test build): every package, the build
# backend included, from the lock with its hash; nothing else is downloaded.
RUN_DEPS := $(VENV)/.run-deps
TEST_DEPS := $(VENV)/.test-deps

$(RUN_DEPS): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
ifdef CAPI_PIP_LOCK
	$(BIN)/pip install -q --require-hashes -r $(CAPI_PIP_LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
else
	$(BIN)/pip install -q -r requirements.txt -e .
endif
	touch $@

$(TEST_DEPS): $(RUN_DEPS) requirements-dev.txt
ifndef CAPI_PIP_LOCK
	$(BIN)/pip install -q -r requirements-dev.txt
endif
	touch $@

run: $(RUN_DEPS)
	$(BIN)/capi serve --port $(PORT)

lint: $(TEST_DEPS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(TEST_DEPS)
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

# The everyday tier: lint and the unit tests without the generated, fuzz and equivalence runs
# (marked slow): no emulator, no Terraform (page and Node checks skip without chromium or node).
test-fast: $(TEST_DEPS)
	$(BIN)/ruff check .
	$(BIN)/pytest tests/unit -m "not slow and not integration" -q

emulator-setup: $(RUN_DEPS)
	$(BIN)/capi emulator-setup

bench: $(TEST_DEPS)
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_normalize.py
	$(BIN)/python bench/load_e2e.py

clean:
	rm -rf $(VENV) $(TFVENV) .pytest_cache .ruff_cache

# Regenerate requirements-ci.lock and requirements-tf.lock (hashes of every test and tool
# dependency) after changing requirements.txt, requirements-dev.txt or requirements-tf.txt. They
# are compiled for the Python of the Cloud Build test image (Debian 13's 3.13), which
# cloudbuild-test.yaml checks before it installs them; uv compiles for a Python other than its own.
lock:
	$(PYTHON) -m venv .piptools && .piptools/bin/pip install -q uv
	.piptools/bin/uv pip compile -q --python-version 3.13 --python-platform x86_64-manylinux_2_28 \
	  --generate-hashes --no-emit-index-url --strip-extras -o requirements-ci.lock requirements-ci.in
	.piptools/bin/uv pip compile -q --python-version 3.13 --python-platform x86_64-manylinux_2_28 \
	  --generate-hashes --no-emit-index-url --strip-extras -o requirements-tf.lock requirements-tf.txt
