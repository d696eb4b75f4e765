# make run   — install what is missing, start the stack, migrate, run every service and the gateway
# make test  — the whole suite: lint, unit, integration, e2e (real RabbitMQ, PostgreSQL, Redis)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help install secrets stack browser migrate run test test-unit test-integration test-e2e test-cluster test-images bench chaos lint format typecheck clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): constraints.txt pyproject.toml */pyproject.toml
	deploy/local/stack.sh venv $(VENV)
	@touch $@

install: $(STAMP) ## create .venv and install every package (pinned)

# Written beside the file and moved over it: the shell would empty .env before it is read.
secrets: ## write .env: fresh secrets for docker compose, or those it lacks (keeps the rest)
	@umask 077 && python3 deploy/secrets.py compose --keep .env > .env.new && mv .env.new .env \
		|| { rm -f .env.new; exit 1; }
	@echo ".env holds every secret docker-compose.yaml requires"

stack: ## start RabbitMQ, PostgreSQL and Redis if they are not answering (installs them as root)
	deploy/local/stack.sh up

browser: ## install Debian's Chromium for the browser tests, if missing (as root)
	deploy/local/stack.sh browser

migrate: install stack ## create and migrate every service's database, declare every queue
	$(PY) -m chassis.migrate users products orders payments notifications
	$(PY) -m chassis.topology

run: install stack ## the whole cluster in the foreground; Ctrl-C stops it
	$(PY) deploy/local/run.py

test: install stack browser lint ## everything: lint, unit, integration, e2e and browser tests
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: install ## unit and contract tests only (no servers needed)
	$(PY) -m pytest tests/unit tests/contract $(PYTEST_ARGS)

test-integration: install stack
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: install stack browser
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

test-cluster: install stack ## the shop on a three-node RabbitMQ cluster losing nodes under load (root)
	$(PY) -m pytest tests/cluster -rP $(PYTEST_ARGS)

test-images: install stack ## build every image and run the shop as containers (root; installs Docker)
	$(PY) -m pytest tests/images -rP $(PYTEST_ARGS)
	deploy/docker/images.sh sizes

bench: install ## load benchmark against the cluster `make run` started (about two minutes)
	$(PY) -m bench.run $(BENCH_ARGS)

chaos: install ## orders under kill -9 and server restarts, then the account (needs `make run`)
	$(PY) -m bench.chaos --orders $(or $(ORDERS),1000)

lint: install ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy chassis users/users products/products orders/orders payments/payments \
		notifications/notifications gateway/gateway deploy/local/run.py deploy/local/smtp_sink.py \
		deploy/docker/healthcheck.py bench
	$(VENV)/bin/mypy deploy/secrets.py  # alone: beside the others it would stand for the stdlib's

format: install ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean: ## remove the virtualenv and run state (databases are left alone)
	rm -rf $(VENV) .run .pytest_cache .ruff_cache .mypy_cache .hypothesis
