#!/usr/bin/env bash
# `make test`: formatting, lints, template lint, and every test, the emulator tests included, then
# a short run of every fuzz target.
# Installs what a fresh machine lacks (the pinned Python tools) and leaves no process behind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/orderbridge/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

VENV="$(infra/local/stack.sh venv)"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cfn-lint infra/template.yaml"
"$VENV/bin/cfn-lint" infra/template.yaml
echo "== sam validate --lint"
DEPLOY_VENV="$(infra/local/deploy-tools.sh)"
SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 "$DEPLOY_VENV/bin/sam" validate --lint -t infra/template.yaml

# The console's browser tests drive Debian's Chromium through chromedriver.
infra/local/browser.sh

trap 'infra/local/stack.sh stop' EXIT
infra/local/stack.sh start
# shellcheck disable=SC1091
source .local/stack.env
echo "== cargo test (emulator at $AWS_ENDPOINT_URL)"
cargo test --workspace --locked
# The exactly-once proof on a small N against the same emulator (`make chaos` runs 10,000).
# `cargo test` above built the binary; about 4 minutes here.
echo "== orderbridge-chaos --orders ${CHAOS_CI_ORDERS:-150}"
"$CARGO_TARGET_DIR/debug/orderbridge-chaos" --orders "${CHAOS_CI_ORDERS:-150}" --seed 1 --limit-secs 900
# Every fuzz target for a short while from its seeds (`make fuzz` runs 10 million executions each).
echo "== fuzz: ${FUZZ_CI_SECS:-15} s per target (nightly, libFuzzer)"
infra/local/fuzz.sh --secs "${FUZZ_CI_SECS:-15}"
