# Everyday commands for Tessera; `make` (or `make help`) lists them.
# `make test` is the README's test command, and the one CI runs.
.DEFAULT_GOAL := help
.PHONY: help run test lint fmt db-up db-down build bench docker up up-replicas images smoke openapi fuzz deny api-fuzz

# Extra arguments: `make run ARGS='migrate'`, `make test ARGS='-p tessera-domain'`.
ARGS ?=

# Compose v2 (`docker compose`) where installed, else the standalone v1.
COMPOSE = $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)

help: ## List the targets
	@echo "Targets:"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

run: ## Serve on http://127.0.0.1:8080 with embedded SQLite (data/tessera.db)
	cargo run -p tessera-server $(if $(ARGS),-- $(ARGS))

test: ## Every test of every crate (starts a PostgreSQL if none answers)
	scripts/test.sh $(ARGS)

lint: ## Formatting check and clippy, as CI runs them
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	cargo fmt --all

db-up: ## PostgreSQL 15 from docker-compose on 127.0.0.1:5432
	$(if $(findstring docker compose,$(COMPOSE)),docker compose up -d --wait postgres,docker-compose up -d postgres)

db-down: ## Stop and remove docker-compose's containers (the data volume stays)
	$(COMPOSE) --profile replicas down

build: ## Release build of the tessera binary (target/release/tessera)
	cargo build --release -p tessera-server

bench: ## Load benchmark on PostgreSQL and SQLite; table in bench/results/<date>.md
	python3 bench/run.py

docker: ## Build the container image tessera:latest (needs a Docker engine)
	docker build -t tessera:latest .

up: ## The whole stack in containers: PostgreSQL + Tessera on 127.0.0.1:8080 (needs TESSERA_SESSION_SECRET, TESSERA_SECRET_KEY)
	$(COMPOSE) up --build -d

up-replicas: ## Two Tessera instances behind HAProxy on 127.0.0.1:8000, one PostgreSQL (same secrets)
	$(COMPOSE) --profile replicas up --build -d

images: ## Base images built locally from Debian's archive, where no registry answers
	scripts/images.sh

smoke: ## Builds the images and the compose stack, then tries it through its ports
	scripts/smoke.sh

OPENAPI ?= openapi.json
openapi: ## Write the OpenAPI document to openapi.json (or OPENAPI=path)
	cargo run -q -p tessera-server -- openapi > $(OPENAPI)
	@echo "wrote $(OPENAPI)"

fuzz: ## Every cargo-fuzz target for FUZZ_SECONDS each (default 60; nightly)
	scripts/fuzz.sh

deny: ## Supply-chain checks: licences, bans, sources, advisories (cargo-deny)
	scripts/deny.sh

api-fuzz: ## schemathesis against the OpenAPI document on SQLite and PostgreSQL
	scripts/api-fuzz.sh
