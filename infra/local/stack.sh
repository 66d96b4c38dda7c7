#!/usr/bin/env bash
# Local AWS stack for tests and the demo: the pinned moto server on free loopback ports (SQS in a
# second process of its own).
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

# Two moto processes: SQS on its own (AWS_ENDPOINT_URL_SQS, which the AWS SDKs read natively), and
# everything else (DynamoDB above all) on AWS_ENDPOINT_URL. moto is single-threaded Python, so on
# a 2-core machine one process was the bottleneck of `make chaos`; two use both cores.
SERVERS=(main sqs)
pid_file() { if [[ "$1" == main ]]; then echo "$PID_FILE"; else echo "$STATE_DIR/moto-$1.pid"; fi; }
log_file() { if [[ "$1" == main ]]; then echo "$LOG_FILE"; else echo "$STATE_DIR/moto-$1.log"; fi; }

is_running() {
  local server
  for server in "${SERVERS[@]}"; do
    local f; f="$(pid_file "$server")"
    [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null || return 1
  done
}

cmd_stop() {
  local server
  for server in "${SERVERS[@]}"; do
    local f; f="$(pid_file "$server")"
    if [[ -f "$f" ]]; then
      local pid; pid="$(cat "$f")"
      if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        log "stopped moto $server (pid $pid)"
      fi
      rm -f "$f"
    fi
  done
  rm -f "$ENV_FILE"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Starts one server on a free port (ORDERBRIDGE_MOTO_PORT pins the main one) and prints its endpoint
# once it answers.
start_server() {
  local server="$1" port
  if [[ "$server" == main && -n "${ORDERBRIDGE_MOTO_PORT:-}" ]]; then port="$ORDERBRIDGE_MOTO_PORT"; else port="$(free_port)"; fi
  # setsid: moto gets its own session so it survives the caller's job control but is stopped by pid.
  # moto_server.py is moto's own server with fixes to its running time (see the file).
  setsid "$VENV/bin/python" "$ROOT/infra/local/moto_server.py" -H 127.0.0.1 -p "$port" \
    >"$(log_file "$server")" 2>&1 < /dev/null &
  echo $! >"$(pid_file "$server")"
  local endpoint="http://127.0.0.1:$port"
  for _ in $(seq 100); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen('$endpoint/moto-api/', timeout=1)" 2>/dev/null; then
      echo "$endpoint"; return 0
    fi
    kill -0 "$(cat "$(pid_file "$server")")" 2>/dev/null || break
    sleep 0.1
  done
  log "moto $server did not start; last lines of $(log_file "$server"):"; tail -20 "$(log_file "$server")" >&2 || true
  return 1
}

cmd_start() {
  cmd_venv >/dev/null
  mkdir -p "$STATE_DIR"
  cmd_stop
  local endpoint sqs_endpoint
  endpoint="$(start_server main)" || { cmd_stop; return 1; }
  sqs_endpoint="$(start_server sqs)" || { cmd_stop; return 1; }
  cat >"$ENV_FILE" <<ENV
export AWS_ENDPOINT_URL=$endpoint
export AWS_ENDPOINT_URL_SQS=$sqs_endpoint
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export ORDERBRIDGE_TEST_AWS_ENDPOINT=$endpoint
ENV
  log "moto listening on $endpoint (SQS on $sqs_endpoint; pids $(cat "$PID_FILE") $(cat "$(pid_file sqs)")); env in $ENV_FILE"
}

cmd_status() {
  if is_running; then echo "running: $(grep -E '_ENDPOINT_URL(_SQS)?=' "$ENV_FILE" | sed 's/^export //' | tr '\n' ' ')"; else echo "stopped"; fi
}

case "${1:-}" in
  venv) cmd_venv ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 venv|start|stop|status" >&2; exit 2 ;;
esac
