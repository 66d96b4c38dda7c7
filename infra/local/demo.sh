#!/usr/bin/env bash
# `make demo`: a real sync on this machine. Starts the local AWS emulator, builds the harness,
# and runs the demo (vendor sandbox in-process, seeded orders, the functions' handlers until
# everything settles, a summary). Stops what it started. `HARNESS_BIN=orderbridge-chaos` runs
# the chaos harness the same way (`make chaos`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/orderbridge/target}"
infra/local/stack.sh venv >/dev/null
echo "== building (the first build on a fresh machine takes several minutes)"
bin="${HARNESS_BIN:-orderbridge-demo}"
cargo build --workspace --quiet --bin "$bin"
trap 'infra/local/stack.sh stop' EXIT
infra/local/stack.sh start
# shellcheck disable=SC1091
source .local/stack.env
"$CARGO_TARGET_DIR/debug/$bin" "$@"
