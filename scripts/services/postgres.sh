#!/usr/bin/env bash
# Throwaway Postgres cluster for tests, from Debian's postgresql binaries.
#
#   postgres.sh start DIR PORT   initdb in DIR (owned by the postgres OS user), listen on 127.0.0.1:PORT
#                                only, unix socket inside DIR, fsync off; waits until pg_isready.
#   postgres.sh stop DIR         pg_ctl stop -m fast, then remove DIR. Safe if DIR is already gone.
#
# Superuser `postgres`, password `otel-bridge-test` (scram-sha-256 over TCP, trust on the socket):
#   postgresql://postgres:otel-bridge-test@127.0.0.1:PORT/postgres
# The server refuses to run as root, so when run as root it is started through `runuser -u postgres`.
set -euo pipefail

PASSWORD=otel-bridge-test
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[[ -x "$bindir/initdb" ]] || { echo "postgres.sh: no /usr/lib/postgresql/*/bin (run scripts/bootstrap.sh)" >&2; exit 1; }

as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cmd=${1:-}; dir=${2:-}
[[ -n "$cmd" && -n "$dir" ]] || { echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2; }

case "$cmd" in
  start)
    port=${3:?usage: $0 start DIR PORT}
    mkdir -p "$dir/data"
    [[ $(id -u) -eq 0 ]] && chown -R postgres:postgres "$dir"
    chmod 700 "$dir" "$dir/data"
    pwfile="$dir/pwfile"
    printf '%s\n' "$PASSWORD" > "$pwfile"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$pwfile"
    as_pg "$bindir/initdb" -D "$dir/data" -U postgres --pwfile="$pwfile" \
      --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    rm -f "$pwfile"
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200 -c synchronous_commit=off -c full_page_writes=off" \
      >/dev/null || { cat "$dir/postgres.log" >&2; exit 1; }
    for _ in $(seq 1 100); do
      "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" && exit 0
      sleep 0.1
    done
    echo "postgres.sh: not ready on port $port" >&2; cat "$dir/postgres.log" >&2; exit 1
    ;;
  stop)
    if [[ -f "$dir/data/postmaster.pid" ]]; then
      as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
