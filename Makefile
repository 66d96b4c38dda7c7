# Thin wrappers over cargo and the scripts in infra/local. `make test` is the one test command.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/orderbridge/target

.PHONY: test fmt lint local-up local-down

## Everything CI runs: fmt, clippy, cfn-lint, unit + emulator + sandbox tests.
test:
	@infra/local/test.sh

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings

## Start moto on a free port and create the orderbridge-local tables and queues;
## then `source .local/stack.env` to point the SDK and the functions at it.
local-up:
	@infra/local/stack.sh start
	@cargo build --workspace --quiet --bin orderbridge-admin
	@source .local/stack.env && "$(CARGO_TARGET_DIR)/debug/orderbridge-admin" provision --prefix orderbridge-local --env-file .local/stack.env

local-down:
	@infra/local/stack.sh stop
