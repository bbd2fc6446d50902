#!/usr/bin/env python3
"""End to end metrics benchmark: `otel-bridge run` beside `curl` of the same query and Python's OTLP classes.

Usage: scripts/bench_e2e.py [--rows 100000,1000000] [--repeats 3] [--kind sum|histogram|both]
                            [--temporality cumulative,delta] [--binary .build/release/otel-bridge] [--no-build]
                            [--database migrated|fresh] [--postgres-latency-ms 0] [--profile [--profile-runs 3]]

Against the local stack (`bash scripts/stack.sh up`; reads .stack/env). For each kind and row count it
seeds (or reuses, when already there with the same rows) `bench_e2e.<kind>_<rows>` in the local
ClickHouse endpoint: a rollup *result*, --series (1,000) series x rows/series one-minute buckets, 5 String
attribute columns and a UInt64 value (sum), or count/sum/min/max and a 15-bucket Array(UInt64)
(histogram). A pipeline YAML + query template of its own (a temp dir) reads it with a plain SELECT,
one query for the whole window (max_buckets_per_query 100,000), 5,000 points per request, lag 60 s,
late-data check off, self-telemetry off. So that the endpoint is not what is measured, the query costs
chDB nothing but reading the table, and the exact request the bridge sends (captured once through a
forwarding proxy, which answers it with an error so that the capturing run ends there, then replayed:
URL, headers incl. Accept-Encoding, body) is fetched by `curl` to /dev/null: the floor (once first,
not counted, as a warm-up). The bridge offers every encoding libcurl decodes and the endpoint, as
ClickHouse does, answers zstd; CLICKHOUSE_COMPRESSION=gzip in this script's environment makes the bridge
(and so curl) offer gzip alone, the endpoint's encoding before it negotiated (`encoding:` is printed).
Each repeat then runs, interleaved so that load on a shared machine hits all alike:
  curl            the bridge's query, RowBinaryWithNamesAndTypes, compressed, to /dev/null
  bridge <temp>   `otel-bridge run --pipeline bench` with a Postgres checkpoint database of its own,
                  migrated before the timer starts (as every scheduled run after the first finds it;
                  --database fresh: the run migrates it, as a first run does), with --postgres-latency-ms
                  through a proxy that holds each chunk that long each way (Postgres a network hop
                  away: a round trip costs twice that more; the proxy's CPU counts as "python"), against an
                  acknowledge-only OTLP/HTTP endpoint in this script (no decoding)
  python          opentelemetry-proto classes building and serialising the same points (the same
                  attributes and values, 5,000 per request) and nothing else, in a child process
                  (its time excludes interpreter start and imports)
Prints one table of medians: seconds, points/s, x of curl, peak RSS of that process (wait4), and the
endpoint's own time for the query (its log line: chDB + compression + send), so a reader sees when the
endpoint dominates. With --profile, more bridge runs per temporality under `perf record`
(--profile-runs, every thread of the process) print the share of their samples in
swift_retain/swift_release (and their bridgeObject/unknownObject/_n variants): each run's, the median,
and the median run's top symbols. Figures only: it never asserts a time.
Never run by the tests.
"""
import argparse
import shutil
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import http.client
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from bench_common import Ack, LatencyProxy, StackCPU, ack_server, ch, find_binary, pg_create, pg_drop, run_measured, stack_env  # noqa: E402

DB = "bench_e2e"
SERIES = 1000
BATCH = 5000
ATTRS = ["gen_ai.provider.name", "gen_ai.request.model", "portkey.workspace", "http.response.status_code",
         "portkey.cache_status"]
PROVIDERS = ["openai", "anthropic", "google", "azure-openai", "bedrock", "mistral-ai", "groq", "x-ai"]
STATUSES = ["200", "429", "500", "503", "400"]
CACHE = ["MISS", "HIT", "DISABLED"]
BOUNDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]  # 15 buckets


def models():
    """Models per provider: 8 providers x this x 5 workspaces x 5 statuses = SERIES distinct series."""
    return SERIES // 200


def series_attrs(s):
    """The attribute values of series s (0..SERIES-1), all distinct; the SQL below matches."""
    m = models()
    return (PROVIDERS[s % 8], f"model-{s // 8 % m}", f"ws-{s // (8 * m) % 5}", STATUSES[s // (40 * m) % 5], CACHE[s % 3])


def value(n):  # n = bucket * SERIES + series; the SQL below matches
    return n * 7919 % 1000 + 1


def sql_attrs():
    m = models()
    return f"""
    [{', '.join(repr(p) for p in PROVIDERS)}][s % 8 + 1] AS `{ATTRS[0]}`,
    concat('model-', toString(intDiv(s, 8) % {m})) AS `{ATTRS[1]}`,
    concat('ws-', toString(intDiv(s, {8 * m}) % 5)) AS `{ATTRS[2]}`,
    [{', '.join(repr(x) for x in STATUSES)}][intDiv(s, {40 * m}) % 5 + 1] AS `{ATTRS[3]}`,
    [{', '.join(repr(x) for x in CACHE)}][s % 3 + 1] AS `{ATTRS[4]}`"""
ATTR_COLS = ", ".join(f"`{a}` String" for a in ATTRS)
ATTR_SEL = ", ".join(f"`{a}`" for a in ATTRS)


def table_name(kind, rows):
    return f"{kind}_{rows}" if SERIES == 1000 else f"{kind}_{rows}_s{SERIES}"


def seed(chu, kind, rows):
    """Creates bench_e2e.<kind>_<rows> unless present with `rows` rows that one query can still cover;
    returns (first bucket epoch seconds, seconds spent seeding or None when reused)."""
    t = table_name(kind, rows)
    buckets = rows // SERIES
    ch(chu, f"CREATE DATABASE IF NOT EXISTS {DB}")
    exists = ch(chu, f"EXISTS TABLE {DB}.{t}").strip() == "1"
    if exists:
        n, first = ch(chu, f"SELECT count(), toUnixTimestamp(min(bucket)) FROM {DB}.{t}").split()
        # one query covers first bucket .. now - lag only while that is at most 100,000 buckets
        if int(n) == rows and (time.time() - int(first)) / 60 < 90_000:
            return int(first), None
        ch(chu, f"DROP TABLE {DB}.{t}")
    first = (int(time.time()) // 60) * 60 - buckets * 60 - 3600
    cols = "value UInt64" if kind == "sum" else \
        "cnt UInt64, total Float64, lo Float64, hi Float64, buckets Array(UInt64)"
    ch(chu, f"CREATE TABLE {DB}.{t} (bucket DateTime('UTC'), {ATTR_COLS}, {cols}) "
            f"ENGINE = MergeTree ORDER BY (bucket, {ATTR_SEL})")
    v = "(number * 7919) % 1000 + 1"
    vals = f"toUInt64({v}) AS value" if kind == "sum" else (
        f"toUInt64({v}) AS cnt, toFloat64({v}) * 1.5 AS total, 0.0 AS lo, toFloat64({v}) * 2 AS hi, "
        f"arrayMap(i -> toUInt64(if(i = ({v}) % 15, {v}, 0)), range(15)) AS buckets")
    t0 = time.monotonic()
    ch(chu, f"""INSERT INTO {DB}.{t}
        SELECT toDateTime({first}, 'UTC') + toIntervalMinute(intDiv(number, {SERIES})) AS bucket, {sql_attrs()}, {vals}
        FROM (SELECT number, number % {SERIES} AS s FROM numbers({rows}))""")
    return first, time.monotonic() - t0


def write_pipeline(tmp, kind, rows):
    t = table_name(kind, rows)
    value_cols = "value" if kind == "sum" else "cnt, total, lo, hi, buckets"
    (tmp / "bench.sql").write_text(
        f"SELECT bucket, {ATTR_SEL}, {value_cols}\nFROM {t}\n"
        "WHERE bucket >= {window_start:DateTime64(3, 'UTC')} AND bucket < {window_end:DateTime64(3, 'UTC')}\n")
    attrs = "[" + ", ".join(ATTRS) + "]"
    if kind == "sum":
        metric = f"""      - metric_name: bench.requests
        unit: "{{request}}"
        data_type: sum
        value_type: int
        monotonic: true
        value_column: value
        attribute_columns: {attrs}"""
    else:
        metric = f"""      - metric_name: bench.duration
        unit: s
        data_type: histogram
        explicit_bounds: {BOUNDS}
        count_column: cnt
        sum_column: total
        min_column: lo
        max_column: hi
        bucket_counts_column: buckets
        attribute_columns: {attrs}"""
    (tmp / "bench.yaml").write_text(f"""defaults:
  step: 60s
  lag: 60s
  max_buckets_per_query: 100000
  max_points_per_request: {BATCH}
  late_data_check: 0
  cardinality_limit: {max(2000, 2 * SERIES)}
pipelines:
  - name: bench
    query: bench.sql
    metrics:
{metric}
""")
    return tmp / "bench.yaml"


# ---- capture of the bridge's own request (one run that stops at it) --------------------------------------
class Capture(BaseHTTPRequestHandler):
    """Forwards every request to ClickHouse, except the first that names the bench table: that one is kept
    and answered with a ClickHouse error, so the capturing run ends there instead of exporting it all."""
    protocol_version = "HTTP/1.1"
    upstream = None
    needle = b""
    captured = []

    def do_GET(self):
        self._forward(b"")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self._forward(self.rfile.read(n))

    def _forward(self, body):
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        if Capture.needle in body or Capture.needle in self.path.encode():
            Capture.captured.append((self.path, hdrs, body))
            msg = b"Code: 60. DB::Exception: bench_e2e: request captured, not run. (UNKNOWN_TABLE)\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain; charset=UTF-8")
            self.send_header("X-ClickHouse-Exception-Code", "60")
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        u = urlsplit(Capture.upstream)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=3600)
        c.request(self.command, self.path, body=body if self.command == "POST" else None, headers=hdrs)
        r = c.getresponse()
        data = r.read()  # de-chunked, still compressed
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        c.close()

    def log_message(self, *args):
        pass


def curl_argv(chu, req, out="/dev/null"):
    path, hdrs, body = req
    argv = ["curl", "-sS", "--fail", "-o", out, "--data-binary", "@-", "-X", "POST"]
    for k, v in hdrs.items():
        if k.lower() not in ("expect", "transfer-encoding"):
            argv += ["-H", f"{k}: {v}"]
    return argv + [chu.rstrip("/") + path], body


def answered_encoding(chu, req):
    """The Content-Encoding the endpoint answers the captured request with."""
    path, hdrs, body = req
    u = urlsplit(chu)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    c.request("POST", path, body=body, headers=hdrs)
    r = c.getresponse()
    r.read()
    c.close()
    return r.getheader("Content-Encoding") or "none"


def run_curl(chu, req):
    argv, body = curl_argv(chu, req)
    with tempfile.NamedTemporaryFile(suffix=".sql") as f:  # curl reads the body from the file
        f.write(body)
        f.flush()
        argv[argv.index("@-")] = "@" + f.name
        rc, wall, _, rss, err = run_measured(argv)
    if rc != 0:
        sys.exit(f"bench_e2e: curl failed: {err.decode()[-500:]}")
    return wall, rss


LOG_LINE = re.compile(r"^\S+ (\d+) user=\S+ id=\S+ ([\d.]+)ms (.*)$")


class EndpointLog:
    """The endpoint's own time per query, from the one line per query the local ClickHouse logs."""
    def __init__(self, path, needle):
        self.path, self.needle = Path(path), needle
        self.mark()

    def mark(self):
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def seconds(self):
        # the endpoint logs a query after its last chunk is sent, so a client can be done first: wait
        # (up to 5 s) for the line instead of reading 0
        deadline = time.monotonic() + 5
        while True:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                text = f.read().decode("utf-8", "replace")
            found = [float(m.group(2)) / 1000 for m in map(LOG_LINE.match, text.splitlines())
                     if m and self.needle in m.group(3)]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.mark()
        return sum(found)


# ---- Python's official OTLP classes: build and encode the same points (child process) -------------
def python_encode(kind, rows, first):
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.metrics.v1 import metrics_pb2
    attrs = [series_attrs(s) for s in range(SERIES)]
    cumulative = metrics_pb2.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    start_ns = first * 1_000_000_000
    nbytes = requests = 0
    t0 = time.monotonic()
    for lo in range(0, rows, BATCH):
        req = ExportMetricsServiceRequest()
        rm = req.resource_metrics.add()
        kv = rm.resource.attributes.add()
        kv.key, kv.value.string_value = "service.name", "otel-bridge"
        sm = rm.scope_metrics.add()
        sm.scope.name = "otel-bridge"
        m = sm.metrics.add()
        if kind == "sum":
            m.name, m.unit = "bench.requests", "{request}"
            m.sum.is_monotonic = True
            m.sum.aggregation_temporality = cumulative
            points = m.sum.data_points
        else:
            m.name, m.unit = "bench.duration", "s"
            m.histogram.aggregation_temporality = cumulative
            points = m.histogram.data_points
        for n in range(lo, min(lo + BATCH, rows)):
            b, s = divmod(n, SERIES)
            v = value(n)
            dp = points.add()
            for k, a in zip(ATTRS, attrs[s]):
                kv = dp.attributes.add()
                kv.key = k
                kv.value.string_value = a
            dp.start_time_unix_nano = start_ns
            dp.time_unix_nano = start_ns + (b + 1) * 60_000_000_000
            if kind == "sum":
                dp.as_int = v
            else:
                dp.count, dp.sum, dp.min, dp.max = v, v * 1.5, 0.0, v * 2.0
                dp.bucket_counts.extend([v if i == v % 15 else 0 for i in range(15)])
                dp.explicit_bounds.extend(BOUNDS)
        nbytes += len(req.SerializeToString())
        requests += 1
    import resource
    print(f"{time.monotonic() - t0:.6f} {requests} {nbytes} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")


def run_python(kind, rows, first):
    argv = [sys.executable, __file__, "--python-encode", kind, str(rows), str(first), str(SERIES)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    # communicate() reaped it: its peak RSS is the largest of RUSAGE_CHILDREN only if larger than the
    # bridge's, so the child reports its own (getrusage of itself) on the line it prints
    if p.returncode != 0:
        sys.exit(f"bench_e2e: python encode failed: {err.decode()[-1000:]}")
    secs, _, _, rss = out.split()
    return float(secs), int(rss)  # build + encode only: interpreter start and imports are not counted


# ---- the bridge ------------------------------------------------------------------------------------
def bridge_env(base, chu, pg_url, temporality, otlp, config, first):
    env = dict(base)
    env.update({
        "CLICKHOUSE_URL": chu, "CLICKHOUSE_DATABASE": DB, "CHECKPOINT_DATABASE_URL": pg_url,
        "OTEL_PUSH_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": otlp,
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": temporality,
        "BRIDGE_START_AT": datetime.fromtimestamp(first, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "BRIDGE_CONFIG": str(config), "BRIDGE_SELF_TELEMETRY": "false", "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "warning"),
    })
    return env


# "migrated": each run's checkpoint database holds the schema already, as every scheduled run after
# the first finds it; "fresh": the run migrates an empty database first (a first run).
DATABASE = "migrated"
# Set by --postgres-latency-ms: the bridge reaches its checkpoint database through it.
PG_PROXY = None


def checkpoint_database(binary, env, pgu, name):
    """Creates the run's checkpoint database (migrated by `otel-bridge checkpoints show` unless
    DATABASE is "fresh"); returns `env` pointing at it."""
    pg_drop(pgu, name)
    url = pg_create(pgu, name)
    env = dict(env, CHECKPOINT_DATABASE_URL=PG_PROXY.url(url) if PG_PROXY else url)
    if DATABASE == "migrated":
        p = subprocess.run([binary, "checkpoints", "show"], env=env, capture_output=True)
        if p.returncode != 0:
            pg_drop(pgu, name)
            sys.exit(f"bench_e2e: otel-bridge checkpoints show (the migrations) exited {p.returncode}: {p.stderr.decode()[-2000:]}")
        time.sleep(0.5)  # its backend ends after it and is reaped: its CPU is not the run's
    return env


def run_bridge(binary, env, pgu, tag, check=True):
    name = f"bench_e2e_{os.getpid()}_{tag}"
    env = checkpoint_database(binary, env, pgu, name)
    Ack.reset()
    with StackCPU(stack_env()) as others:
        rc, wall, cpu, rss, err = run_measured([binary, "run", "--pipeline", "bench", "--no-progress"], env=env)
    pg_drop(pgu, name)
    if rc != 0 and check:
        sys.exit(f"bench_e2e: otel-bridge exited {rc}: {err.decode()[-2000:]}")
    return wall, rss, cpu, Ack.requests, Ack.bytes, others


RETAIN_RELEASE = re.compile(r"swift_(?:nonatomic_)?(?:bridgeObject|unknownObject)?(?:retain|release)(?:_n)?$", re.I)


def profile_bridge(binary, env, pgu, tag, top=12):
    """One run of the bridge under `perf record`: the share of its samples (self time, every thread)
    in retain/release, and the symbols that took the most. Returns (share %, [(percent, symbol)])."""
    if not shutil.which("perf"):
        sys.exit("bench_e2e: --profile needs perf (apt-get install linux-perf)")
    name = f"bench_e2e_{os.getpid()}_{tag}"
    env = checkpoint_database(binary, env, pgu, name)
    Ack.reset()
    with tempfile.TemporaryDirectory(prefix="bench_e2e.perf.") as d:
        data = str(Path(d) / "perf.data")
        keep = os.environ.get("BENCH_PERF_DATA")  # a path: record call graphs too, and keep them there
        p = subprocess.run(["perf", "record", "-q", "-F", "1999", *((os.environ.get("BENCH_PERF_CALLGRAPH", "-g").split()) if keep else []), "-o", data, "--", binary, "run",
                            "--pipeline", "bench", "--no-progress"], env=env, capture_output=True)
        if keep:
            shutil.copy(data, keep)
        pg_drop(pgu, name)
        if p.returncode != 0:
            sys.exit(f"bench_e2e: perf record of otel-bridge exited {p.returncode}: {p.stderr.decode()[-2000:]}")
        rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "symbol",
                              "--percent-limit", "0"], capture_output=True, text=True)
    rows = []
    for line in rep.stdout.splitlines():
        m = re.match(r"\s*([0-9.]+)%\s+\[[.k]\]\s+(.+)$", line)
        if m:  # perf pads the symbol and ends the line with "-" columns
            rows.append((float(m.group(1)), re.sub(r"(?:\s+-)*\s*$", "", m.group(2))))
    share = sum(pct for pct, sym in rows if RETAIN_RELEASE.search(sym.split("(")[0].strip()))
    return share, rows[:top]


def build(binary_given):
    if binary_given:
        return binary_given, None
    t0 = time.monotonic()
    p = subprocess.run(["swift", "build", "-c", "release", "--product", "otel-bridge"], cwd=ROOT,
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench_e2e: swift build failed:\n{p.stdout[-3000:]}{p.stderr[-3000:]}")
    return str(ROOT / ".build/release/otel-bridge"), time.monotonic() - t0


def fmt_table(results):
    head = ["what", "kind", "rows", "median s", "points/s", "× curl", "peak RSS MiB", "endpoint s", "runs (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        lines.append("| " + " | ".join([
            r["what"], r["kind"], f"{r['rows']:,}", f"{r['median']:.2f}",
            "—" if r["what"] == "curl" else f"{r['rows'] / r['median']:,.0f}",
            f"{r['median'] / r['curl']:.1f}×" if r.get("curl") else "—",
            f"{r['rss'] / 1024:.0f}", f"{r['endpoint']:.2f}" if r.get("endpoint") is not None else "—",
            " ".join(f"{x:.2f}" for x in r["runs"])]) + " |")
    return "\n".join(lines)


def main():
    global SERIES, DATABASE, PG_PROXY
    if len(sys.argv) == 6 and sys.argv[1] == "--python-encode":
        SERIES = int(sys.argv[5])
        return python_encode(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default="100000,1000000", help="comma-separated; multiples of 1,000 (10000000 works: seeds in seconds, the runs take minutes)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--kind", choices=["sum", "histogram", "both"], default="both")
    ap.add_argument("--temporality", default="cumulative,delta")
    ap.add_argument("--series", type=int, default=SERIES, help="series in the result, a multiple of 200 (default 1,000)")
    ap.add_argument("--binary", default=None, help="an otel-bridge binary; default: swift build -c release first")
    ap.add_argument("--no-build", action="store_true", help="use .build/release/otel-bridge as it is")
    ap.add_argument("--database", choices=["migrated", "fresh"], default=DATABASE,
                    help="each run's checkpoint database: migrated before the run starts, as every scheduled run after "
                         "the first finds it (default), or fresh, the run migrating it (a first run)")
    ap.add_argument("--postgres-latency-ms", type=float, default=0,
                    help="the bridge's checkpoint database through a proxy holding each chunk this long each way")
    ap.add_argument("--profile", action="store_true",
                    help="after the repeats, more bridge runs per temporality under perf record (--profile-runs): the "
                         "share of swift_retain/swift_release in their samples (the median run's) and its top symbols")
    ap.add_argument("--profile-runs", type=int, default=3,
                    help="runs under perf per temporality (default 3: one run's share moves by a few points)")
    a = ap.parse_args()
    if a.series <= 0 or a.series % 200:
        sys.exit("bench_e2e: --series must be a positive multiple of 200")
    SERIES = a.series
    DATABASE = a.database
    rows_list = [int(x.replace("_", "")) for x in a.rows.split(",")]
    if any(r <= 0 or r % SERIES for r in rows_list):
        sys.exit(f"bench_e2e: --rows must be positive multiples of --series ({SERIES:,})")
    kinds = ["sum", "histogram"] if a.kind == "both" else [a.kind]
    temps = [t.strip() for t in a.temporality.split(",") if t.strip()]
    env = stack_env()
    chu, pgu = env["TEST_CLICKHOUSE_URL"], env["TEST_POSTGRES_URL"]
    binary, build_s = build(a.binary or (find_binary() if a.no_build else None))
    print(f"binary: {binary}" + (f" (swift build -c release --product otel-bridge: {build_s:.0f} s)" if build_s else ""),
          file=sys.stderr)
    if a.postgres_latency_ms > 0:
        u = urlsplit(pgu)
        PG_PROXY = LatencyProxy((u.hostname, u.port), a.postgres_latency_ms / 1000)
    print(f"checkpoint database of each run: {DATABASE}" + (f", through a proxy adding {a.postgres_latency_ms:g} ms each way"
          if PG_PROXY else ""), file=sys.stderr)
    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}  "
          f"cores: {os.cpu_count()}", file=sys.stderr)
    server, otlp = ack_server()
    results, profiles = [], []
    with tempfile.TemporaryDirectory(prefix="bench_e2e.") as tmpd:
        tmp = Path(tmpd)
        for kind in kinds:
            for rows in rows_list:
                first, seeded = seed(chu, kind, rows)
                print(f"{kind} {rows:,} rows: " + (f"seeded in {seeded:.1f} s" if seeded is not None else "reused"),
                      file=sys.stderr)
                config = write_pipeline(tmp, kind, rows)
                needle = f"FROM {table_name(kind, rows)}"
                # the bridge's exact request, for curl: a run through a capturing proxy that answers that
                # request with an error (so it ends there: at 10 M rows a full run would take minutes)
                Capture.upstream, Capture.needle, Capture.captured = chu, needle.encode(), []
                proxy = ThreadingHTTPServer(("127.0.0.1", 0), Capture)
                threading.Thread(target=proxy.serve_forever, daemon=True).start()
                w_env = bridge_env(os.environ, f"http://127.0.0.1:{proxy.server_port}", "", "delta", otlp, config, first)
                run_bridge(binary, w_env, pgu, "capture", check=False)
                proxy.shutdown()
                queries = [c for c in Capture.captured if c[2].lstrip().upper().startswith((b"SELECT", b"WITH"))
                           or b"SELECT" in c[2][:200].upper()]
                if len(queries) != 1:
                    sys.exit(f"bench_e2e: expected one query of the bench table in the capturing run, saw {len(queries)}")
                req = queries[0]
                offered = next((v for k, v in req[1].items() if k.lower() == "accept-encoding"), "")
                print(f"encoding: the bridge offers '{offered}', the endpoint answers {answered_encoding(chu, req)}", file=sys.stderr)
                run_curl(chu, req)  # warm-up, not counted: the table's parts in the page cache
                log = EndpointLog(env["STACK_CLICKHOUSE_LOG"], needle)
                runs = {}
                def add(what, wall, rss, ep):
                    runs.setdefault(what, []).append((wall, rss, ep))
                for i in range(a.repeats):
                    log.mark()
                    wall, rss = run_curl(chu, req)
                    add("curl", wall, rss, log.seconds())
                    for t in temps:
                        log.mark()
                        wall, rss, cpu, nreq, nbytes, others = run_bridge(
                            binary, bridge_env(os.environ, chu, "", t, otlp, config, first), pgu, f"{t}_{i}")
                        add(f"bridge {t}", wall, rss, log.seconds())
                        print(f"  {kind} {rows:,} bridge {t} #{i + 1}: {wall:.2f} s, CPU {cpu:.2f} s, "
                              f"{nreq} requests, {nbytes:,} bytes, peak RSS {rss / 1024:.0f} MiB; CPU of the others: {others}",
                              file=sys.stderr)
                    wall, rss = run_python(kind, rows, first)
                    add("python opentelemetry-proto", wall, rss, None)
                curl_med = statistics.median(w for w, _, _ in runs["curl"])
                for what, rs in runs.items():
                    eps = [e for _, _, e in rs if e is not None]
                    results.append({
                        "what": what, "kind": kind, "rows": rows, "runs": [w for w, _, _ in rs],
                        "median": statistics.median(w for w, _, _ in rs), "rss": max(r for _, r, _ in rs),
                        "endpoint": statistics.median(eps) if eps else None,
                        "curl": None if what == "curl" else curl_med})
                print(fmt_table(results[-len(runs):]), file=sys.stderr)
                for t in temps if a.profile else []:
                    runs_perf = sorted((profile_bridge(binary, bridge_env(os.environ, chu, "", t, otlp, config, first), pgu, f"perf_{t}_{i}")
                                        for i in range(max(1, a.profile_runs))), key=lambda r: r[0])
                    share, top = runs_perf[len(runs_perf) // 2]
                    profiles.append((kind, rows, t, share))
                    print(f"  {kind} {rows:,} bridge {t} under perf: retain/release {share:.1f} % of the bridge's samples "
                          f"(median of {len(runs_perf)} runs: {', '.join(f'{r[0]:.1f}' for r in runs_perf)}); top of that run:",
                          file=sys.stderr)
                    for pct, sym in top:
                        print(f"    {pct:5.2f} %  {sym[:110]}", file=sys.stderr)
    server.shutdown()
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}", file=sys.stderr)
    print(fmt_table(results))
    if profiles:
        print("\n| kind | rows | temporality | retain/release, % of the bridge's samples |\n|---|---|---|---|")
        for kind, rows, t, share in profiles:
            print(f"| {kind} | {rows:,} | {t} | {share:.1f} % |")


if __name__ == "__main__":
    main()
