#!/usr/bin/env bash
# Local AWS stack for tests and the demo: a pinned moto server on a free loopback port.
#
#   stack.sh venv      install the pinned Python tools (moto, cfn-lint) into the project virtualenv
#   stack.sh start     (re)start moto on a free port; writes .local/stack.env for `source`
#   stack.sh stop      stop the moto this checkout started (no-op when none runs)
#   stack.sh status    print whether it runs and where
#
# Idempotent: `start` first stops a moto left behind by an earlier run of this checkout, and `stop`
# tolerates a stale pid file. Tables and queues are created by `orderbridge-admin provision`
# (see the Makefile), from the same Rust definitions the tests use.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="$ROOT/.local"
PID_FILE="$STATE_DIR/moto.pid"
ENV_FILE="$STATE_DIR/stack.env"
LOG_FILE="$STATE_DIR/moto.log"
REQUIREMENTS="$ROOT/infra/local/requirements.txt"
# The virtualenv lives outside the clone, keyed by the requirements, so repeated CI runs on one
# machine reuse it while a fresh machine (or a changed pin) builds a new one.
REQ_HASH="$(sha256sum "$REQUIREMENTS" | cut -c1-12)"
VENV="${ORDERBRIDGE_VENV:-$HOME/.cache/orderbridge/venv-$REQ_HASH}"

log() { printf 'stack: %s\n' "$*" >&2; }

cmd_venv() {
  if [[ -x "$VENV/bin/moto_server" && -x "$VENV/bin/cfn-lint" && -f "$VENV/.complete" ]]; then
    echo "$VENV"; return 0
  fi
  log "installing pinned tools into $VENV (about a minute on a fresh machine)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
  touch "$VENV/.complete"
  echo "$VENV"
}

is_running() {
  [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

cmd_stop() {
  if [[ -f "$PID_FILE" ]]; then
    local pid; pid="$(cat "$PID_FILE")"
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      log "stopped moto (pid $pid)"
    fi
    rm -f "$PID_FILE"
  fi
  rm -f "$ENV_FILE"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

cmd_start() {
  cmd_venv >/dev/null
  mkdir -p "$STATE_DIR"
  cmd_stop
  local port; port="${ORDERBRIDGE_MOTO_PORT:-$(free_port)}"
  # setsid: moto gets its own session so it survives the caller's job control but is stopped by pid.
  setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$LOG_FILE" 2>&1 < /dev/null &
  echo $! >"$PID_FILE"
  local endpoint="http://127.0.0.1:$port"
  for _ in $(seq 100); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('$endpoint/moto-api/', timeout=1)" 2>/dev/null; then
      cat >"$ENV_FILE" <<ENV
export AWS_ENDPOINT_URL=$endpoint
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export ORDERBRIDGE_TEST_AWS_ENDPOINT=$endpoint
ENV
      log "moto listening on $endpoint (pid $(cat "$PID_FILE")); env in $ENV_FILE"
      return 0
    fi
    if ! is_running; then break; fi
    sleep 0.1
  done
  log "moto did not start; last lines of $LOG_FILE:"; tail -20 "$LOG_FILE" >&2 || true
  cmd_stop; return 1
}

cmd_status() {
  if is_running; then echo "running (pid $(cat "$PID_FILE")): $(grep AWS_ENDPOINT_URL "$ENV_FILE" | cut -d= -f2)"; else echo "stopped"; fi
}

case "${1:-}" in
  venv) cmd_venv ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 venv|start|stop|status" >&2; exit 2 ;;
esac
