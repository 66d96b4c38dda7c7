#!/usr/bin/env bash
# `make bench`: builds the four functions and a hello-world lambda_runtime binary with the release
# profile, starts the local AWS emulator, and runs the bench (tests/harness/src/bin/orderbridge-bench.rs):
# latency, throughput under the vendors' documented limits, calls per order, init time / RSS /
# size per binary, and the cost model. The table is also written to .local/bench/latest.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/orderbridge/target}"
infra/local/stack.sh venv >/dev/null
echo "== building release binaries (first time on a fresh machine: about 10 minutes)"
cargo build --release --workspace --locked --quiet \
  --bin order-pull --bin order-import --bin shipment-webhook --bin status-push --bin hello-lambda
# The harness itself runs as a debug build (shared with `make test`); the functions' own cost is
# measured on their release binaries.
cargo build --workspace --locked --quiet --bin orderbridge-bench
trap 'infra/local/stack.sh stop' EXIT
infra/local/stack.sh start
# shellcheck disable=SC1091
source .local/stack.env
mkdir -p .local/bench
BENCH_BIN_DIR="$CARGO_TARGET_DIR/release" "$CARGO_TARGET_DIR/debug/orderbridge-bench" "$@" | tee .local/bench/latest.md
exit "${PIPESTATUS[0]}"
