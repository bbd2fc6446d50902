#!/usr/bin/env bash
# The test stack: Postgres + ClickHouse HTTP (chDB) + OTLP receiver on free 127.0.0.1 ports.
#
#   scripts/stack.sh up     start all three (temp dirs under $TMPDIR), wait until ready, write .stack/env
#   scripts/stack.sh down   stop all, remove temp dirs and .stack/env (safe to call twice or after a failed up)
#   scripts/stack.sh env    print .stack/env
#
# .stack/env (gitignored) holds `export` lines: TEST_POSTGRES_URL, TEST_CLICKHOUSE_URL, TEST_OTLP_URL,
# TEST_CLICKHOUSE_USER/TEST_CLICKHOUSE_PASSWORD (a second, password-protected ClickHouse user), STACK_DIR,
# pids and log paths. Logs live in .stack/logs/. Needs scripts/bootstrap.sh to have run (.venv, postgresql).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state="$root/.stack"; envf="$state/env"; logs="$state/logs"
py="$root/.venv/bin/python"; svc="$root/scripts/services"

# Kill a pid we started, only if it still runs our script ($2); TERM, then KILL after 5 s.
stop_pid() {
  local pid=$1 name=$2
  [[ -n "$pid" && -r /proc/$pid/cmdline ]] || return 0
  tr '\0' ' ' </proc/"$pid"/cmdline | grep -q -- "$name" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

down() {
  [[ -f "$envf" ]] || return 0
  # shellcheck disable=SC1090
  ( set +u; source "$envf"
    stop_pid "${STACK_CLICKHOUSE_PID:-}" clickhouse_http.py
    stop_pid "${STACK_OTLP_PID:-}" otlp_receiver.py
    if [[ -n "${STACK_DIR:-}" && -d "$STACK_DIR" ]]; then
      [[ -f "$STACK_DIR/pg/postgres.log" ]] && cp "$STACK_DIR/pg/postgres.log" "$logs/postgres.log" 2>/dev/null
      bash "$svc/postgres.sh" stop "$STACK_DIR/pg"
      rm -rf "$STACK_DIR"
    fi ) || true
  rm -f "$envf"
}

wait_http() {  # URL NAME PID
  "$py" - "$1" "$3" <<'PY' || { echo "stack: $2 did not become ready; log:" >&2; cat "$logs/$2.log" >&2; return 1; }
import os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
for _ in range(600):
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

up() {
  if [[ -f "$envf" ]]; then
    echo "stack: already up ($envf); restarting" >&2
    down
  fi
  [[ -x "$py" ]] || bash "$root/scripts/bootstrap.sh"
  mkdir -p "$logs"
  local dir; dir=$(mktemp -d "${TMPDIR:-/tmp}/otel-bridge-stack.XXXXXX")
  chmod 755 "$dir"  # the postgres OS user must reach $dir/pg
  read -r pg_port ch_port otlp_port < <("$py" -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])
for s in ss: s.close()')
  cat >"$envf" <<ENV
export STACK_DIR=$dir
export STACK_LOG_DIR=$logs
ENV
  trap 'echo "stack: up failed, cleaning up" >&2; down' ERR

  nohup "$py" "$svc/clickhouse_http.py" --port "$ch_port" --data "$dir/clickhouse" \
    --users "default:,bridge:otel-bridge-test" </dev/null >"$logs/clickhouse.log" 2>&1 &
  echo "export STACK_CLICKHOUSE_PID=$!" >>"$envf"
  local ch_pid=$!
  nohup "$py" "$svc/otlp_receiver.py" --port "$otlp_port" </dev/null >"$logs/otlp.log" 2>&1 &
  echo "export STACK_OTLP_PID=$!" >>"$envf"
  local otlp_pid=$!
  bash "$svc/postgres.sh" start "$dir/pg" "$pg_port" >"$logs/postgres-start.log" 2>&1 \
    || { cat "$logs/postgres-start.log" >&2; false; }
  wait_http "http://127.0.0.1:$ch_port/ping" clickhouse "$ch_pid"
  wait_http "http://127.0.0.1:$otlp_port/health" otlp "$otlp_pid"
  trap - ERR

  cat >>"$envf" <<ENV
export STACK_POSTGRES_DIR=$dir/pg
export STACK_POSTGRES_LOG=$dir/pg/postgres.log
export STACK_CLICKHOUSE_LOG=$logs/clickhouse.log
export STACK_OTLP_LOG=$logs/otlp.log
export TEST_POSTGRES_URL=postgresql://postgres:otel-bridge-test@127.0.0.1:$pg_port/postgres
export TEST_CLICKHOUSE_URL=http://127.0.0.1:$ch_port
export TEST_CLICKHOUSE_USER=bridge
export TEST_CLICKHOUSE_PASSWORD=otel-bridge-test
export TEST_OTLP_URL=http://127.0.0.1:$otlp_port
ENV
  echo "stack: up (postgres :$pg_port, clickhouse :$ch_port, otlp :$otlp_port); source $envf" >&2
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) [[ -f "$envf" ]] && cat "$envf" || { echo "stack: not up" >&2; exit 1; } ;;
  *) echo "usage: $0 up|down|env" >&2; exit 2 ;;
esac
