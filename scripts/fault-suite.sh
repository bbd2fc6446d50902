#!/usr/bin/env bash
# The fault suite in one command: scripts/fault-suite.sh [pytest options], e.g. -m quick, -k sigkill,
# --seed N, --full, --keep, --binary PATH (scripts/suites/conftest.py).
#
# With the stack already up (TEST_POSTGRES_URL etc. in the environment, e.g. from `.ci/run` or
# `source .stack/env`) it runs scripts/suites/test_faults.py against it under pytest. Otherwise it
# bootstraps, starts a throwaway stack (scripts/stack.sh up) and stops it on exit. Builds
# .build/debug/otel-bridge when no --binary is given and the binary is missing. See docs/fault-suite.md.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/bootstrap.sh
if [[ -z "${TEST_POSTGRES_URL:-}" || -z "${TEST_CLICKHOUSE_URL:-}" || -z "${TEST_OTLP_URL:-}" ]]; then
  trap 'bash scripts/stack.sh down' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  bash scripts/stack.sh up
  set -a
  # shellcheck disable=SC1091
  source .stack/env
  set +a
fi

if [[ " $* " != *" --binary "* && ! -x .build/debug/otel-bridge ]]; then
  swift build --product otel-bridge
fi

exec_rc=0
.venv/bin/python -m pytest scripts/suites/test_faults.py "$@" || exec_rc=$?
exit "$exec_rc"
