#!/usr/bin/env bash
# Installs the pinned cargo-lambda (brings zig) and SAM CLI into a virtualenv outside the clone
# and prints its path. Activate it (or prepend its bin/ to PATH) so cargo-lambda finds zig.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
REQUIREMENTS="$ROOT/infra/local/requirements-deploy.txt"
REQ_HASH="$(sha256sum "$REQUIREMENTS" | cut -c1-12)"
VENV="${ORDERBRIDGE_DEPLOY_VENV:-$HOME/.cache/orderbridge/deploy-venv-$REQ_HASH}"
if [[ ! -f "$VENV/.complete" ]]; then
  echo "deploy-tools: installing cargo-lambda and SAM CLI into $VENV (about a minute)" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
  touch "$VENV/.complete"
fi
echo "$VENV"
