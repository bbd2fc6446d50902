#!/usr/bin/env bash
# THE test command: scripts/test.sh [swift test args...]
#
# 1. scripts/bootstrap.sh (apt packages + .venv, idempotent and quiet)
# 2. scripts/stack.sh up (Postgres, ClickHouse HTTP over chDB, OTLP receiver); always torn down on exit
# 3. sources .stack/env (TEST_POSTGRES_URL, TEST_CLICKHOUSE_URL, TEST_OTLP_URL, ...)
# 4. scripts/services/selftest.py: checks each service end to end, so a broken service fails fast
# 5. swift test "$@"
# 6. the fault and bad-input suites under pytest, their quick set (scripts/suites/: test_faults.py with
#    the seed $FAULT_SUITE_SEED, default 1, and test_bad_input.py; `pytest -m quick`), their result
#    tables and pytest's closing line at the end (skip either with SKIP_FAULT_SUITE=1 /
#    SKIP_BAD_INPUT_SUITE=1)
# 7. the image smoke test (scripts/image-smoke.sh): the Dockerfile's release build, its runtime root file
#    system made with mmdebstrap from the `runtime` lines of deploy/apt-packages.txt, `validate` and `run`
#    as uid 10001 in a chroot against the stack (skip with SKIP_IMAGE_SMOKE=1, which is said loudly)
# 8. scripts/check_imports.py: every import declared by its target in Package.swift, every module in
#    docs/architecture.md's table (offline, in a second)
# 9. deploy/ checks: scripts/validate_manifests.py (Kubernetes schemas + policy, offline) and
#    scripts/check_dashboards.py (dashboard and alert metric names against what the bridge exports)
# Exits non-zero if either fails. Service logs: .stack/logs/
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/bootstrap.sh
trap 'bash scripts/stack.sh down' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
bash scripts/stack.sh up
set -a
# shellcheck disable=SC1091
source .stack/env
set +a
.venv/bin/python scripts/services/selftest.py

rc=0
swift test "$@" || rc=$?
if ((rc != 0)); then
  echo "test.sh: swift test failed (exit $rc); service logs in .stack/logs/" >&2
fi

# The delivery guarantees under faults (docs/fault-suite.md) and hostile tenant data, operator typos and
# hostile answers (docs/bad-input-suite.md), driving the real binary. A fixed seed: every fault scenario
# lands its faults by construction, and CI replays the same data.
suites=()
[[ "${SKIP_FAULT_SUITE:-0}" == 1 ]] || suites+=(scripts/suites/test_faults.py)
[[ "${SKIP_BAD_INPUT_SUITE:-0}" == 1 ]] || suites+=(scripts/suites/test_bad_input.py)
if ((${#suites[@]})); then
  src=0
  swift build --product otel-bridge >/dev/null &&
    .venv/bin/python -m pytest "${suites[@]}" -m quick --seed "${FAULT_SUITE_SEED:-1}" || src=$?
  if ((src != 0)); then
    echo "test.sh: the fault/bad-input suites failed (exit $src); logs in .stack/logs/{fault-suite,bad-input-suite}/" >&2
    ((rc != 0)) || rc=$src
  fi
fi

if [[ "${SKIP_IMAGE_SMOKE:-0}" != 1 ]]; then
  # The image without a container engine: the Dockerfile's build, its runtime root, uid 10001 (scripts/image-smoke.sh).
  irc=0
  bash scripts/image-smoke.sh || irc=$?
  if ((irc != 0)); then
    echo "test.sh: image smoke test failed (exit $irc)" >&2
    ((rc != 0)) || rc=$irc
  fi
else
  echo "test.sh: image smoke test SKIPPED (SKIP_IMAGE_SMOKE=1): the image is not proven by this run" >&2
fi

# deploy/, offline and in seconds: the Kubernetes manifests against the bundled schemas and the
# policy a schema cannot express (scripts/validate_manifests.py), and every metric name the Grafana
# dashboard and the Prometheus alerts query against what the bridge exports (scripts/check_dashboards.py).
for check in scripts/check_imports.py scripts/validate_manifests.py scripts/check_dashboards.py; do
  crc=0
  .venv/bin/python "$check" || crc=$?
  if ((crc != 0)); then
    echo "test.sh: $check failed (exit $crc)" >&2
    ((rc != 0)) || rc=$crc
  fi
done
exit "$rc"
