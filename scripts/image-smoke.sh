#!/usr/bin/env bash
# The container image proven without a container engine: scripts/image-smoke.sh
#
# Needs the test stack up and its environment loaded (scripts/test.sh does both; by hand:
# `scripts/stack.sh up; set -a; source .stack/env; set +a`), and root (mmdebstrap, chroot, mount).
#
# 1. Builds the binary exactly as the Dockerfile's build stage does
#    (`swift build -c release --product otel-bridge --static-swift-stdlib`), in its own scratch path
#    .build-image/ (gitignored) so it never disturbs the debug build. SwiftPM's incremental build is the
#    cache: a later run with unchanged sources only relinks or does nothing.
# 2. Makes the runtime stage's root file system with mmdebstrap: Debian 12 (bookworm, the suite of
#    debian:bookworm-slim) from the same registry apt uses, plus exactly the `runtime` lines of
#    deploy/apt-packages.txt (the list the Dockerfile installs from), no recommends, as the Dockerfile.
#    Built anew each run (about 15 s), so it proves that the list installs today.
# 3. Lays the image out as the Dockerfile does: the user and group 10001 made by the same
#    groupadd/useradd, /usr/local/bin/otel-bridge (0755), /opt/otel-bridge/config/bridge.yaml and
#    /opt/otel-bridge/queries/, all owned by root as COPY leaves them; /opt/otel-bridge the working directory.
# 4. Mounts /proc in the root (unmounted on every exit path), seeds 30 minutes of rows into a ClickHouse
#    database of its own and makes a Postgres database, then runs `otel-bridge validate` and
#    `otel-bridge run` as uid:gid 10001:10001 in the chroot, with the image's environment only.
#    Both must exit 0, and the receiver must have acknowledged exactly as many requests as the source
#    table holds below the new watermark (delta temporality: the portkey.requests points add up to it).
#
# Missing mmdebstrap, chroot or root: the step says so and fails; it never passes silently.
# Prints what each part cost, in seconds. Keep the root file system with IMAGE_SMOKE_KEEP=1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { echo "image smoke: $*"; }
fail() { echo "image smoke: FAILED: $*" >&2; exit 1; }

for tool in mmdebstrap chroot mount umount; do
  command -v "$tool" >/dev/null 2>&1 \
    || fail "$tool is not available (mmdebstrap is a test-role package of deploy/apt-packages.txt: run scripts/bootstrap.sh)"
done
(($(id -u) == 0)) || fail "needs root (mmdebstrap, chroot and mounting /proc); CI runs as root"
for v in TEST_POSTGRES_URL TEST_CLICKHOUSE_URL TEST_OTLP_URL; do
  [[ -n "${!v:-}" ]] || fail "$v is not set: start the stack (scripts/stack.sh up; source .stack/env)"
done

t_all=$SECONDS
# -- 1. the binary, as the Dockerfile builds it -----------------------------------------------------
t0=$SECONDS
scratch=$root/.build-image
buildlog=$(mktemp)
if ! swift build -c release --product otel-bridge --static-swift-stdlib --scratch-path "$scratch" >"$buildlog" 2>&1; then
  tail -n 30 "$buildlog" >&2
  rm -f "$buildlog"
  fail "swift build -c release --product otel-bridge --static-swift-stdlib failed"
fi
rm -f "$buildlog"
binary=$(swift build -c release --show-bin-path --scratch-path "$scratch")/otel-bridge
[[ -x "$binary" ]] || fail "no $binary after the build"
t_build=$((SECONDS - t0))

# -- 2. the runtime root file system -----------------------------------------------------------------
t0=$SECONDS
mapfile -t runtime < <(awk '$1 == "runtime" {print $2}' deploy/apt-packages.txt)
((${#runtime[@]})) || fail "no runtime line in deploy/apt-packages.txt"
work=$(mktemp -d "${TMPDIR:-/tmp}/otel-bridge-image.XXXXXX")
rootfs=$work/root
proc_mounted=0
cleanup() {
  if ((proc_mounted)); then umount "$rootfs/proc" || umount -l "$rootfs/proc" || true; fi
  if [[ "${IMAGE_SMOKE_KEEP:-0}" == 1 ]]; then
    echo "image smoke: root file system kept at $rootfs" >&2
  elif ! mountpoint -q "$rootfs/proc" 2>/dev/null; then
    rm -rf --one-file-system "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
debstrap_log=$work/mmdebstrap.log
if ! mmdebstrap --variant=apt --include="$(IFS=,; echo "${runtime[*]}")" bookworm "$rootfs" >"$debstrap_log" 2>&1; then
  tail -n 30 "$debstrap_log" >&2
  fail "mmdebstrap bookworm with ${runtime[*]} failed"
fi
t_rootfs=$((SECONDS - t0))

# -- 3. the image's layout (Dockerfile: groupadd/useradd, COPY, WORKDIR, USER) -----------------------
# (useradd warns that 10001 is above SYS_UID_MAX, as in the Dockerfile's build: shown only on failure)
out=$(chroot "$rootfs" groupadd --system --gid 10001 otel-bridge 2>&1 &&
  chroot "$rootfs" useradd --system --uid 10001 --gid otel-bridge --home-dir /home/otel-bridge --create-home \
    --shell /usr/sbin/nologin otel-bridge 2>&1) || fail "making user 10001 in the root failed: $out"
install -D -o 0 -g 0 -m 0755 "$binary" "$rootfs/usr/local/bin/otel-bridge"
install -d -o 0 -g 0 -m 0755 "$rootfs/opt/otel-bridge/config"
install -o 0 -g 0 -m 0644 config/bridge.yaml "$rootfs/opt/otel-bridge/config/bridge.yaml"
cp -R queries "$rootfs/opt/otel-bridge/queries"
chown -R 0:0 "$rootfs/opt/otel-bridge/queries"

# -- 4. validate and run as 10001 against the test stack ---------------------------------------------
t0=$SECONDS
mount -t proc proc "$rootfs/proc"
proc_mounted=1

db=image_smoke_$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
now=$(date -u +%s)
end=$((now / 60 * 60 - 180))       # closed under the default 120 s lag
start=$((end - 30 * 60))
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
rows=$(.venv/bin/python scripts/services/gen_rows.py --clickhouse "$TEST_CLICKHOUSE_URL" --database "$db" \
  --start "$(iso "$start")" --end "$(iso "$end")" --seed 19 --rate-per-minute 20 --create) \
  || fail "seeding ClickHouse database $db failed"
psql -X -q -d "$TEST_POSTGRES_URL" -c "CREATE DATABASE \"$db\"" || fail "creating Postgres database $db failed"
pg_url=${TEST_POSTGRES_URL%/*}/$db

# The image's environment (ENV lines of the Dockerfile) plus what a Kubernetes manifest would set.
image_env=(
  HOME=/home/otel-bridge PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin BRIDGE_HEALTH_PORT=8080
  CLICKHOUSE_URL="$TEST_CLICKHOUSE_URL" CLICKHOUSE_DATABASE="$db"
  CLICKHOUSE_USER="${TEST_CLICKHOUSE_USER:-default}" CLICKHOUSE_PASSWORD="${TEST_CLICKHOUSE_PASSWORD:-}"
  CHECKPOINT_DATABASE_URL="$pg_url"
  OTEL_PUSH_ENABLED=true OTEL_ENDPOINT="$TEST_OTLP_URL/s/$db"
  OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta BRIDGE_SELF_TELEMETRY=false
  BRIDGE_START_AT="$(iso "$start")" LOG_LEVEL=warning
)
in_image() {
  chroot --userspec=10001:10001 "$rootfs" /usr/bin/env -i -C /opt/otel-bridge "${image_env[@]}" \
    /usr/local/bin/otel-bridge "$@"
}
set +e
in_image validate 2>&1 | sed 's/^/  /'
rc=${PIPESTATUS[0]}
set -e
((rc == 0)) || fail "otel-bridge validate in the image exited $rc"
set +e
in_image run 2>&1 | sed 's/^/  /'
rc=${PIPESTATUS[0]}
set -e
((rc == 0)) || fail "otel-bridge run in the image exited $rc"

# The receiver got the points: portkey.requests adds up to the rows below the watermark.
watermark=$(psql -X -A -t -d "$pg_url" -c \
  "SELECT extract(epoch FROM watermark)::bigint FROM otel_bridge.checkpoints WHERE pipeline = 'requests'")
[[ -n "$watermark" ]] || fail "no checkpoint for pipeline requests in $db"
ch() { curl -sf -X POST -G "$TEST_CLICKHOUSE_URL/" --data-urlencode "query=$1"; }
want=$(ch \
  "SELECT count() FROM \`$db\`.generations WHERE created_at >= toDateTime64($start, 3, 'UTC') AND created_at < toDateTime64($watermark, 3, 'UTC')") \
  || fail "counting the rows of $db failed"
got=$(.venv/bin/python - "$TEST_OTLP_URL" "/s/$db" <<'PY'
import sys
sys.path.insert(0, "scripts/services")
import receiver_points
points = [p for p in receiver_points.points(receiver_points.fetch(sys.argv[1], scope=sys.argv[2]))
          if p.accepted and p.metric == "portkey.requests"]
print(len(points), int(sum(p.value for p in points)))
PY
) || fail "reading the receiver failed"
read -r npoints requests <<<"$got"
t_run=$((SECONDS - t0))
((npoints > 0)) || fail "the receiver got no portkey.requests point from the image's run"
((requests == want)) || fail "the receiver got $requests requests in portkey.requests, the source table holds $want below the watermark"
ch "DROP DATABASE IF EXISTS \`$db\`" >/dev/null || true
psql -X -q -d "$TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || true

say "validate and run exited 0 as uid 10001 in a bookworm root with ${runtime[*]};" \
  "the receiver got $npoints portkey.requests points adding up to $requests requests ($want rows of $rows seeded below the watermark $(iso "$watermark"))"
say "cost: release build ${t_build} s, root file system ${t_rootfs} s, validate + run ${t_run} s;" \
  "$((SECONDS - t_all)) s in all"
