#!/usr/bin/env bash
# Idempotent setup of a fresh Debian 12 machine (Swift already installed) for otel-bridge's tests.
#
#   scripts/bootstrap.sh
#
# - apt: the packages of deploy/apt-packages.txt (libcurl, zlib, libpq, pkg-config, postgresql, and the
#   runtime libraries the Dockerfile installs; python3-venv if venv is unavailable);
#   `apt-get update` + install only when `dpkg -s` says one is missing. Debian's automatic "main"
#   cluster is not created (tests start their own throwaway cluster via scripts/services/postgres.sh).
# - .venv/ at the repo root (gitignored) with pinned chdb-core, zstandard (the endpoint answers zstd, as
#   ClickHouse does to a client that accepts it), opentelemetry-proto (+ protobuf),
#   kubernetes-validate (+ PyYAML, jsonschema) and pytest (the fault and bad-input suites, scripts/suites/),
#   created or completed only when missing.
# Quiet unless something fails (then the captured output is shown). Re-runs take well under a second.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# kubernetes-validate bundles the Kubernetes JSON schemas (no network at validation time):
# scripts/validate_manifests.py checks deploy/kubernetes/ with it.
# pytest runs the fault and bad-input suites (scripts/suites/).
PINS=("chdb-core==26.9.0" "zstandard==0.25.0" "opentelemetry-proto==1.45.2" "kubernetes-validate==1.37.0" "pytest==9.2.0")
log=$(mktemp); trap 'rm -f "$log"' EXIT
fail() { echo "bootstrap: $1 failed:" >&2; cat "$log" >&2; exit 1; }
sudo_=""; [[ $(id -u) -eq 0 ]] || sudo_="sudo"

# The apt packages come from deploy/apt-packages.txt, the one list the Dockerfile installs from too
# (build, runtime and test roles; CI installs all three, so every name the image uses is proven here).
mapfile -t pkgs < <(awk '!/^[[:space:]]*(#|$)/ {print $2}' "$root/deploy/apt-packages.txt")
((${#pkgs[@]})) || { echo "bootstrap: no packages read from deploy/apt-packages.txt" >&2; exit 1; }
python3 -c 'import ensurepip, venv' 2>/dev/null || pkgs+=(python3-venv)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  # No auto-created/started system cluster on port 5432.
  $sudo_ mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | $sudo_ tee /etc/postgresql-common/createcluster.d/otel-bridge.conf >/dev/null
  export DEBIAN_FRONTEND=noninteractive
  $sudo_ apt-get update -q >"$log" 2>&1 || fail "apt-get update"
  $sudo_ apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1 \
    || fail "apt-get install ${missing[*]}"
fi

venv="$root/.venv"
have_pins() {
  "$venv/bin/python" - "${PINS[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if all(version(n) == v for n, v in (p.split("==") for p in sys.argv[1:])) else 1)
PY
}
if ! [[ -x "$venv/bin/python" ]] || ! have_pins; then
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv" >"$log" 2>&1 || fail "python3 -m venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "${PINS[@]}" >"$log" 2>&1 \
    || fail "pip install ${PINS[*]}"
  have_pins || { echo "bootstrap: .venv lacks ${PINS[*]} after install" >&2; exit 1; }
fi
