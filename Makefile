# Everyday commands; `make help` lists them. `make test` is the one CI runs.
.DEFAULT_GOAL := help
.PHONY: help run test lint fmt db-up db-down build

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

run: ## Serve on http://127.0.0.1:8080 with embedded SQLite (data/tessera.db)
	cargo run -p tessera-server

test: ## Every test of every crate (starts a PostgreSQL if none answers)
	scripts/test.sh

lint: ## Formatting and clippy, as CI checks them
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	cargo fmt --all

db-up: ## PostgreSQL 15 from docker-compose on 127.0.0.1:5432
	docker compose up -d --wait postgres || docker-compose up -d postgres

db-down: ## Stop docker-compose's services
	docker compose down || docker-compose down

build: ## Release build of the tessera binary
	cargo build --release -p tessera-server
