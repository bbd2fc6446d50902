#!/usr/bin/env bash
# Quick-start demo: otel-bridge end to end on this machine, against a throwaway stack.
#
#   scripts/demo.sh [--keep]
#
# 1. scripts/bootstrap.sh (apt packages + .venv; idempotent)
# 2. swift build --product otel-bridge (progress on one line; the first build takes several minutes)
# 3. scripts/stack.sh up: throwaway Postgres, ClickHouse HTTP (chDB), OTLP receiver on free local ports
# 4. seeds 3 hours of gateway traffic (seed 7, a few thousand rows) into ClickHouse database `demo`,
#    ending at the last closed bucket (now - 2 min lag, aligned to the minute)
# 5. otel-bridge validate, then otel-bridge run with BRIDGE_START_AT = the start of the seeded range;
#    the GenAI traces are on (EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED=true), sent to a second endpoint of
#    the receiver ($TEST_OTLP_URL/s/demo-traces, so .../v1/traces)
# 6. what arrived at the OTLP receiver (scripts/services/receiver_report.py), with the totals checked
#    against the source table; a few spans as a person reads them and the count of spans against the
#    count of rows, one span per row checked (scripts/services/span_report.py); the checkpoints in
#    Postgres as an operator would query them
# 7. otel-bridge run again: nothing is re-sent (0 points, 0 spans; fails the demo otherwise), then the
#    last rows of otel_bridge.runs (both passes)
# LOG_LEVEL defaults to warning here (the bridge's per-pipeline summary lines are always printed).
#
# The stack is stopped on exit unless --keep is given; then the script prints the environment to reuse
# it and the command that stops it. Exits non-zero if any step fails.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

keep=0
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--keep]" >&2; exit 2 ;;
  esac
done

if [[ -t 1 ]]; then bold=$'\033[1m'; dim=$'\033[2m'; red=$'\033[31m'; off=$'\033[0m'; else bold=; dim=; red=; off=; fi
n=0
step() { n=$((n + 1)); printf '\n%s[%d] %s%s\n' "$bold" "$n" "$*" "$off"; }
show() { printf '%s$ %s%s\n' "$dim" "$*" "$off"; }   # the command an operator would type
die() { printf '%sdemo: %s%s\n' "$red" "$*" "$off" >&2; exit 1; }
indent() { sed 's/^/  /'; }

stack_up=0
finish() {
  local rc=$?
  if ((stack_up)); then
    if ((keep)); then
      printf '\n%sThe stack is still running.%s Reuse it with:\n' "$bold" "$off"
      echo "  source $root/.stack/env"
      echo "  export CLICKHOUSE_URL=\$TEST_CLICKHOUSE_URL CLICKHOUSE_DATABASE=demo CHECKPOINT_DATABASE_URL=\$TEST_POSTGRES_URL \\"
      echo "         OTEL_PUSH_ENABLED=true OTEL_ENDPOINT=\$TEST_OTLP_URL BRIDGE_START_AT=${start_iso:-<ISO 8601>}"
      echo "  .build/debug/otel-bridge checkpoints      # or: run, run --dry-run, validate"
      echo "  python3 scripts/services/receiver_report.py"
      echo "Stop it with:"
      echo "  scripts/stack.sh down"
    else
      bash scripts/stack.sh down
    fi
  fi
  ((rc == 0)) || printf '%sdemo: failed (exit %d)%s; service logs in %s/.stack/logs/\n' "$red" "$rc" "$off" "$root" >&2
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------------
step "Bootstrap (apt packages, .venv)"
bash scripts/bootstrap.sh
echo "  ok"

step "Build: swift build --product otel-bridge"
mkdir -p .build
buildlog=.build/demo-build.log
t0=$SECONDS
set +e
swift build --product otel-bridge 2>&1 | tee "$buildlog" | {
  milestone=0
  while IFS= read -r line; do
    if [[ -t 1 ]]; then
      printf '\r\033[K  %s' "${line:0:$(( $(tput cols 2>/dev/null || echo 100) - 4 ))}"
    elif [[ $line =~ ^\[([0-9]+)/([0-9]+)\] ]] && (( BASH_REMATCH[2] > 0 )); then
      pct=$(( BASH_REMATCH[1] * 100 / BASH_REMATCH[2] ))
      if (( pct >= milestone + 25 )); then milestone=$(( pct / 25 * 25 )); echo "  ${line:0:100}"; fi
    fi
  done
  [[ -t 1 ]] && printf '\r\033[K'
}
rc=${PIPESTATUS[0]}
set -e
if ((rc != 0)); then
  grep -E 'error:' "$buildlog" | head -20 >&2 || true
  tail -n 15 "$buildlog" >&2
  die "swift build failed (exit $rc); full log: $buildlog"
fi
echo "  $(tail -n 1 "$buildlog")  [$(( SECONDS - t0 ))s wall]"
bridge=$root/.build/debug/otel-bridge
[[ -x "$bridge" ]] || die "no $bridge after the build"

step "Start the stack: Postgres (checkpoints), ClickHouse HTTP over chDB (source), OTLP receiver"
stack_up=1
bash scripts/stack.sh up 2>&1 | indent || die "scripts/stack.sh up failed"
set -a
# shellcheck disable=SC1091
source .stack/env
set +a
export PSQL_PAGER=cat PGTZ=UTC

# ---------------------------------------------------------------------------------------------------
now=$(date -u +%s)
end=$(( now / 60 * 60 - 120 ))    # the last bucket closed by the default 120 s lag
start=$(( end - 3 * 3600 ))
start_iso=$(date -u -d "@$start" +%Y-%m-%dT%H:%M:%SZ)
end_iso=$(date -u -d "@$end" +%Y-%m-%dT%H:%M:%SZ)

step "Seed 3 h of gateway traffic into ClickHouse demo.generations: $start_iso .. $end_iso"
show ".venv/bin/python scripts/services/gen_rows.py --clickhouse \$TEST_CLICKHOUSE_URL --database demo --start $start_iso --end $end_iso --seed 7 --rate-per-minute 20 --create"
rows=$(.venv/bin/python scripts/services/gen_rows.py --clickhouse "$TEST_CLICKHOUSE_URL" --database demo \
  --start "$start_iso" --end "$end_iso" --seed 7 --rate-per-minute 20 --create) || die "seeding failed"
echo "  $rows rows inserted"

export CLICKHOUSE_URL=$TEST_CLICKHOUSE_URL CLICKHOUSE_DATABASE=demo
export CHECKPOINT_DATABASE_URL=$TEST_POSTGRES_URL
export OTEL_PUSH_ENABLED=true OTEL_ENDPOINT=$TEST_OTLP_URL
export OTEL_SERVICE_NAME=otel-bridge-demo OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=demo
export BRIDGE_START_AT=$start_iso
# One GenAI span per request (docs/traces.md), to a second endpoint: the receiver's /s/demo-traces.
traces_scope=/s/demo-traces
export EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED=true
export EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT=$TEST_OTLP_URL$traces_scope
export LOG_LEVEL=${LOG_LEVEL:-warning}   # the demo shows the per-pipeline summary lines, not info logs
unset BRIDGE_CONFIG OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_METRICS_ENDPOINT \
  OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE OTEL_EXPORTER_OTLP_PROTOCOL

step "Environment of the bridge"
for v in CLICKHOUSE_URL CLICKHOUSE_DATABASE CHECKPOINT_DATABASE_URL OTEL_PUSH_ENABLED OTEL_ENDPOINT \
         OTEL_SERVICE_NAME OTEL_RESOURCE_ATTRIBUTES BRIDGE_START_AT LOG_LEVEL \
         EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT; do
  printf '  %s=%s\n' "$v" "${!v}"
done
echo "  (pipelines: config/bridge.yaml, queries/*.sql; temporality: cumulative, the default)"

step "otel-bridge validate"
show "otel-bridge validate"
"$bridge" validate 2>&1 | indent || die "otel-bridge validate failed"

step "otel-bridge run  (first pass: backfill from BRIDGE_START_AT)"
show "otel-bridge run"
t0=$SECONDS
"$bridge" run 2>&1 | indent || die "otel-bridge run failed"
echo "  [$(( SECONDS - t0 ))s]"

step "What arrived at the OTLP receiver (top 8 series per metric)"
show "python3 scripts/services/receiver_report.py --url \$TEST_OTLP_URL --clickhouse \$TEST_CLICKHOUSE_URL --database demo"
python3 scripts/services/receiver_report.py --url "$TEST_OTLP_URL" \
  --clickhouse "$TEST_CLICKHOUSE_URL" --database demo | indent || die "receiver report failed"

step "The GenAI spans at the traces endpoint (one per request)"
show "python3 scripts/services/span_report.py --url \$TEST_OTLP_URL --scope $traces_scope --clickhouse \$TEST_CLICKHOUSE_URL --database demo --since $start_iso"
python3 scripts/services/span_report.py --url "$TEST_OTLP_URL" --scope "$traces_scope" \
  --clickhouse "$TEST_CLICKHOUSE_URL" --database demo --since "$start_iso" | indent || die "span report failed"

step "Checkpoints in Postgres (schema otel_bridge)"
show "otel-bridge checkpoints"
"$bridge" checkpoints 2>&1 | indent || die "otel-bridge checkpoints failed"
echo
q_status="SELECT pipeline, watermark, behind, last_success_at, consecutive_failures FROM otel_bridge.pipeline_status ORDER BY pipeline"
show "psql \"\$TEST_POSTGRES_URL\" -c \"$q_status\""
psql "$TEST_POSTGRES_URL" -X -c "$q_status" | sed '/^$/d; s/^/  /' || die "psql failed"

step "otel-bridge run again: every bucket and row up to the watermarks is done, nothing is re-sent"
before=$(python3 scripts/services/receiver_report.py --url "$TEST_OTLP_URL" --brief)
seq=${before##* }
before_spans=$(python3 scripts/services/span_report.py --url "$TEST_OTLP_URL" --scope "$traces_scope" --brief)
span_seq=${before_spans##* }
show "otel-bridge run"
"$bridge" run 2>&1 | indent || die "second otel-bridge run failed"
after=$(python3 scripts/services/receiver_report.py --url "$TEST_OTLP_URL" --brief --after-seq "$seq")
echo "  receiver, since the first run: ${after%, last seq*}"
[[ $after == "0 export requests, 0 data points"* ]] || die "the second run exported data again: $after"
after_spans=$(python3 scripts/services/span_report.py --url "$TEST_OTLP_URL" --scope "$traces_scope" --brief --after-seq "$span_seq")
echo "  traces endpoint, since the first run: ${after_spans%, last seq*}"
[[ $after_spans == "0 export requests, 0 spans"* ]] || die "the second run sent spans again: $after_spans"

echo
echo "  The last runs (one row per pass of a pipeline; the newest first):"
q_runs="SELECT id, pipeline, status, window_start, window_end, rows_read, points_exported, finished_at - started_at AS took FROM otel_bridge.runs ORDER BY id DESC LIMIT 10"
show "psql \"\$TEST_POSTGRES_URL\" -c \"$q_runs\""
psql "$TEST_POSTGRES_URL" -X -c "$q_runs" | sed '/^$/d; s/^/  /' || die "psql failed"

printf '\n%sDone.%s Next: scripts/test.sh (the test suite), README.md (configuration, commands, delivery guarantees).\n' "$bold" "$off"
