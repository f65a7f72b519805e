# Everyday commands. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## Show available commands
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@if ! command -v redis-server >/dev/null; then $(BIN)/pip install --quiet -e '.[dev,embedded]'; fi
	touch $(STAMP)

install: $(STAMP) ## Create the virtualenv and install the project with its dev tools

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

QUICK ?=
BENCH_DATABASE_URL ?=

bench: $(BENCH_STAMP) ## Throughput against the bare stack, every scenario, ~15 min (QUICK=1: ~3 min; BENCH_DATABASE_URL=postgresql+psycopg://...: PostgreSQL). Never part of `make test`
	$(BIN)/python bench/throughput.py $(if $(QUICK),--quick) $(if $(BENCH_DATABASE_URL),--database-url $(BENCH_DATABASE_URL))

PORT ?= 8000

run: $(STAMP) ## Run the whole service (intake on 127.0.0.1:PORT, default 8000; workers, scheduler, embedded Redis unless PRESSROOM_REDIS_URL)
	$(BIN)/pressroom run --port $(PORT)

test: $(STAMP) ## Run the whole test suite (starts its own redis-server; PostgreSQL on 127.0.0.1:5432 if reachable)
	$(BIN)/pytest

test-unit: $(STAMP) ## Only the fast tests that need no services
	$(BIN)/pytest tests/unit tests/contract

test-chaos: $(STAMP) ## Only the chaos scenarios (faults injected while articles stream)
	$(BIN)/pytest tests/chaos

lint: $(STAMP) ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP) ## Format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP) ## mypy --strict over the packages
	$(BIN)/mypy

ci: lint typecheck test ## What CI runs

migrate: $(STAMP) ## Bring the database schema up to date
	$(BIN)/pressroom migrate

config-docs: $(STAMP) ## Print the settings table for the README
	$(BIN)/pressroom config-docs

queues: $(STAMP) ## Depth of every queue (needs PRESSROOM_REDIS_URL)
	@$(BIN)/python -c "import os, redis; r = redis.Redis.from_url(os.environ['PRESSROOM_REDIS_URL']); [print(f'{k.decode():28} {r.llen(k)}') for k in sorted(r.keys('*')) if r.type(k) == b'list']"

clean: ## Remove the virtualenv and local state
	rm -rf $(VENV) var

.PHONY: help install bench run test test-unit test-chaos lint fmt typecheck ci migrate config-docs queues clean
