# Thin wrappers over cargo and the scripts in infra/local. `make test` is the one test command.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/orderbridge/target

.PHONY: test fmt lint local-up local-down demo chaos bench build-lambdas validate fuzz soak

## Everything CI runs: fmt, clippy, cfn-lint, unit + emulator + sandbox tests, then a 150-order chaos run
## and 15 s of each fuzz target.
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

## The main job: a real sync of seeded orders through the functions' handlers, against the local
## emulator and the vendor sandbox; prints a summary and the last connector-log lines.
demo:
	@infra/local/demo.sh

## arm64 release binaries for Lambda (cargo-lambda + zig from PyPI), one bootstrap per function.
build-lambdas:
	@DEPLOY_VENV="$$(infra/local/deploy-tools.sh)" && export PATH="$$DEPLOY_VENV/bin:$$PATH" && \
	  rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true; \
	  cargo lambda build --release --arm64 --bin order-pull --bin order-import --bin shipment-webhook --bin status-push --bin console && \
	  ls -l "$(CARGO_TARGET_DIR)/lambda"/*/bootstrap

## SAM's own validation of the template (cfn-lint runs in `make test`).
validate:
	@DEPLOY_VENV="$$(infra/local/deploy-tools.sh)" && SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 \
	  "$$DEPLOY_VENV/bin/sam" validate --lint -t infra/template.yaml

## Exactly-once under injected faults: CHAOS_ORDERS orders (default 10000) and their shipments,
## faults on every vendor, killed invocations, poison messages; exits non-zero on any loss,
## duplicate or wrong total.
CHAOS_ORDERS ?= 10000
chaos:
	@HARNESS_BIN=orderbridge-chaos infra/local/demo.sh --orders $(CHAOS_ORDERS)

## Steady traffic with faults for SOAK_MINUTES (default 60): orders and their shipments at a fixed
## rate, a row every 5 minutes with latency percentiles, backlog, DLQ and memory; exits non-zero if
## anything is lost or memory, latency or backlog grows. SOAK_ARGS passes options.
SOAK_MINUTES ?= 60
soak:
	@HARNESS_BIN=orderbridge-soak infra/local/demo.sh --minutes $(SOAK_MINUTES) $(SOAK_ARGS)

## Latency p50/p95, throughput under the vendors' documented limits, calls per order, init time /
## peak RSS / size of each release binary next to a hello-world lambda_runtime binary, and the
## cost per million orders; prints a table (also in .local/bench/latest.md). BENCH_ARGS passes
## options, e.g. BENCH_ARGS="--pull-interval-secs 60 --burst-orders 200".
bench:
	@infra/local/bench.sh $(BENCH_ARGS)

## Coverage-guided fuzzing (libFuzzer; nightly, cargo-fuzz installed when missing) of every parser
## of outside input: FUZZ_RUNS executions per target (default 10 million), or FUZZ_SECS seconds
## each instead; FUZZ_TARGETS picks some. Prints executions, time and crashes per target; exits
## non-zero on any panic, allocation over 2 GiB or input over 10 s. Long runs go without
## AddressSanitizer (FUZZ_SANITIZER=address puts it back); the short run in `make test` keeps it.
FUZZ_RUNS ?= 10000000
FUZZ_SANITIZER ?= none
fuzz:
	@FUZZ_SANITIZER=$(FUZZ_SANITIZER) infra/local/fuzz.sh $(if $(FUZZ_SECS),--secs $(FUZZ_SECS),--runs $(FUZZ_RUNS)) $(FUZZ_TARGETS)
