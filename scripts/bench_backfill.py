#!/usr/bin/env python3
"""A 30-day backfill of the shipped default rollups over realistic gateway traffic (issue 11).

Usage: scripts/bench_backfill.py [--days 30] [--rate 20] [--seed 7] [--jobs 2] [--reseed] [--seed-only]
                                 [--temporality cumulative|delta] [--binary .build/release/otel-bridge] [--no-build]

Against the local stack (`bash scripts/stack.sh up`; reads .stack/env).

Seeds `bench_backfill.generations` in the local ClickHouse endpoint with the demo's generator
(scripts/services/gen_rows.py, unchanged: 8 models of 4 providers, 6 workspaces of 3 organisations,
~4 % errors over 6 status codes, 6 cache statuses, lognormal tokens, latency growing with output,
a sinusoidal day cycle peaking at 15:00 UTC at 1.5x the mean and falling to 0.5x at 03:00, rare
4-8x bursts) over the `--days` days that end at the last full hour, at `--rate` requests per second
on average (default 20/s: 1.7 M requests a day, a busy production gateway; 52 M rows for 30 days).
The generator draws every minute from its own RNG seeded by (seed, minute), so the range is split
into one-day slices seeded by `--jobs` generator processes in parallel, and the result is the same
as one process would write. The table is then merged (OPTIMIZE FINAL), as a production table would
be. A table seeded with the same --days/--rate/--seed is reused (its parameters are kept in
`bench_backfill.seeded`); the stack's data lives until `scripts/stack.sh down`.

Then it runs `otel-bridge run` once (release binary; builds it unless --binary/--no-build) with
config/bridge.yaml and its query templates exactly as shipped, BRIDGE_START_AT the first seeded
minute, a fresh Postgres checkpoint database, LOG_FORMAT=json, self-telemetry off, and an
acknowledge-only OTLP/HTTP endpoint in this script (reads and counts, never decodes). The temporality
is the shipped default (cumulative) unless --temporality says otherwise.

Prints: wall time, the bridge's CPU time and peak RSS (/usr/bin/time), rows read and points
exported (the `pass finished` lines of the JSON log, per pipeline and in all), OTLP requests and
bytes, points/s, the endpoint's own time (its log lines for the run's queries: chDB + compression + send)
and CPU time (/proc), Postgres' CPU time (postmaster and backends, /proc), this script's own CPU
(the OTLP sink), and a bottleneck line derived from those shares of the wall time. Figures only:
it never asserts a time. Never run by the tests.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "scripts" / "services"))
from bench_common import Ack, ack_server, ch, find_binary, pg_create, pg_drop, run_measured, stack_env  # noqa: E402
from bench_common import process_cpu as proc_cpu  # noqa: E402
from bench_e2e import EndpointLog, build  # noqa: E402
import gen_rows  # noqa: E402

DB = "bench_backfill"
DAY = 86400


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- seeding ---------------------------------------------------------------------------------------
def seeded(chu, days, rate, seed):
    """(start, end, rows) of a table seeded with these parameters, or None."""
    if ch(chu, f"EXISTS TABLE {DB}.seeded").strip() != "1":
        return None
    line = ch(chu, f"SELECT days, rate_per_second, seed, start, end, rows FROM {DB}.seeded "
                   "ORDER BY start DESC LIMIT 1 FORMAT TSV").strip()
    if not line:
        return None
    d, r, s, start, end, rows = line.split("\t")
    if (int(d), float(r), int(s)) != (days, rate, seed):
        return None
    if int(ch(chu, f"SELECT count() FROM {DB}.generations").strip()) != int(rows):
        return None
    return int(start), int(end), int(rows)


def seed_data(chu, days, rate, seed, jobs):
    """Seeds days x 24 h ending at the last full hour (at least 3 min ago, so past the shipped lag)."""
    end = (int(time.time()) - 180) // 3600 * 3600
    start = end - days * DAY
    ch(chu, f"DROP DATABASE IF EXISTS {DB}")
    ch(chu, f"CREATE DATABASE {DB}")
    ch(chu, f"CREATE TABLE {DB}.generations ({gen_rows.COLUMNS}\n) ENGINE = MergeTree ORDER BY created_at")
    slices = [(t, min(t + DAY, end)) for t in range(start, end, DAY)]
    t0 = time.monotonic()
    running, total = [], 0
    cmd = [sys.executable, str(ROOT / "scripts/services/gen_rows.py"), "--clickhouse", chu, "--database", DB,
           "--seed", str(seed), "--rate-per-minute", str(rate * 60), "--batch", "20000"]

    def reap(p):
        nonlocal total
        out, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"bench_backfill: gen_rows failed: {err.decode()[-1000:]}")
        total += int(out.split()[-1])

    for i, (a, b) in enumerate(slices):
        while len(running) >= jobs:
            reap(running.pop(0))
        running.append(subprocess.Popen(cmd + ["--start", iso(a), "--end", iso(b)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        print(f"  seeding day {i + 1}/{len(slices)} ({iso(a)[:10]}); {total:,} rows so far, "
              f"{time.monotonic() - t0:.0f} s", file=sys.stderr)
    for p in running:
        reap(p)
    gen_s = time.monotonic() - t0
    t1 = time.monotonic()
    ch(chu, f"OPTIMIZE TABLE {DB}.generations FINAL")
    merge_s = time.monotonic() - t1
    ch(chu, f"CREATE TABLE {DB}.seeded (days UInt32, rate_per_second Float64, seed Int64, start Int64, end Int64, "
            "rows UInt64, seed_seconds Float64) ENGINE = MergeTree ORDER BY start")
    ch(chu, f"INSERT INTO {DB}.seeded VALUES ({days}, {rate}, {seed}, {start}, {end}, {total}, {gen_s + merge_s:.1f})")
    return start, end, total, gen_s, merge_s


# ---- CPU of the other processes (from /proc, clock ticks) ------------------------------------------
def postgres_cpu(pg_dir):
    """CPU of the Postgres cluster: the postmaster with its reaped backends, plus its live children."""
    pidfile = Path(pg_dir) / "data" / "postmaster.pid"
    try:
        pm = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    total = proc_cpu(pm, children=True)
    try:
        kids = Path(f"/proc/{pm}/task/{pm}/children").read_text().split()
    except OSError:
        kids = []
    return total + sum(proc_cpu(int(k)) for k in kids)


class RunQueue:
    """Samples /proc/<pid>/task/*/schedstat of the bridge (found by its argv) every 0.2 s while it runs:
    the time its threads spent runnable but waiting for a CPU. Threads that end between two samples
    lose up to 0.2 s, so this is a lower bound."""
    def __init__(self, argv):
        self.argv, self.waits, self.stop = [a.encode() for a in argv], {}, threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def find(self):
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if (d / "cmdline").read_bytes().split(b"\0")[:-1] == self.argv:
                        return d
                except OSError:
                    pass
        return None

    def loop(self):
        proc = None
        while not self.stop.wait(0.2):
            proc = proc if proc is not None and proc.exists() else self.find()
            if proc is None:
                continue
            try:
                for t in (proc / "task").iterdir():
                    try:
                        self.waits[t.name] = int((t / "schedstat").read_text().split()[1]) / 1e9
                    except (OSError, IndexError, ValueError):
                        pass
            except OSError:
                proc = None

    def seconds(self):
        self.stop.set()
        self.thread.join()
        return sum(self.waits.values())


def self_cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# ---- the figures -----------------------------------------------------------------------------------
def passes(stderr):
    """The `pass finished` lines of the JSON log: {pipeline: (rows, points, batches, duration s)}."""
    out = {}
    for line in stderr.decode("utf-8", "replace").splitlines():
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if isinstance(j, dict) and j.get("message") == "pass finished":
            out[j.get("pipeline", "?")] = (int(j.get("rows", 0)), int(j.get("points", 0)), int(j.get("batches", 0)),
                                           float(str(j.get("duration", "0")).rstrip("s") or 0))
    return out


def bottleneck(shares, cpu_wait):
    """Names the busiest party from its share of the wall time; returns (verdict, how it was derived)."""
    name, share = max(shares.items(), key=lambda kv: kv[1] if kv[1] is not None else -1)
    if share is not None and share >= 0.6:
        verdict = f"{name}-bound"
        if name == "bridge" and cpu_wait >= 0.1:
            verdict += (f" ({cpu_wait * 100:.0f} % of the wall time runnable but waiting for a CPU: the machine "
                        "was busy with other work, so on an idle one the bridge alone would take less)")
    elif (shares["bridge"] or 0) + (shares["endpoint"] or 0) >= 0.8:
        verdict = (f"the bridge and the endpoint in turn ({shares['bridge'] * 100:.0f} % + {shares['endpoint'] * 100:.0f} % "
                   f"of the wall time, adding up to about all of it): they barely overlap, one waits while the other works; the larger part is the {name}'s")
    else:
        verdict = "latency-bound (no party busy for 60 % of the wall time: round trips, waits)"
    how = ("shares of the wall time: " + ", ".join(f"{k} {v * 100:.0f} %" for k, v in shares.items() if v is not None) +
           "; the largest share at or above 60 % names the bottleneck; else, when the bridge's and the endpoint's "
           "add up to 80 % or more, they take turns. The bridge's share is its CPU time plus the "
           "time its threads were runnable but waiting for a CPU (/proc schedstat, sampled: a lower bound; with "
           "more than one thread it can pass 100 %); the endpoint's is the sum of its per-query log times (chDB + "
           "compression + send, so it includes any wait on a slow reader); Postgres' is its CPU (postmaster and "
           "backends). The parties overlap in time, so shares need not add up to 100 %.")
    return verdict, how


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--rate", type=float, default=20.0, help="mean requests per second (default 20)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="generator processes while seeding")
    ap.add_argument("--reseed", action="store_true", help="seed again even when a matching table is there")
    ap.add_argument("--seed-only", action="store_true", help="seed (or find) the data, then stop")
    ap.add_argument("--temporality", choices=["cumulative", "delta"], default=None,
                    help="default: not set, the shipped default (cumulative)")
    ap.add_argument("--binary", default=None, help="an otel-bridge binary; default: swift build -c release first")
    ap.add_argument("--no-build", action="store_true", help="use .build/release/otel-bridge as it is")
    a = ap.parse_args()
    env = stack_env()
    chu, pgu = env["TEST_CLICKHOUSE_URL"], env["TEST_POSTGRES_URL"]
    binary, build_s = build(a.binary or (find_binary() if a.no_build else None))
    print(f"binary: {binary}" + (f" (swift build -c release --product otel-bridge: {build_s:.0f} s)" if build_s else ""),
          file=sys.stderr)
    load = os.getloadavg()
    print(f"load before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}  cores: {os.cpu_count()}", file=sys.stderr)

    found = None if a.reseed else seeded(chu, a.days, a.rate, a.seed)
    if found:
        start, end, nrows = found
        print(f"data: reused {DB}.generations, {nrows:,} rows, {iso(start)} .. {iso(end)}", file=sys.stderr)
        seed_line = "reused"
    else:
        print(f"data: seeding {a.days} days at {a.rate:g} requests/s (seed {a.seed}, {a.jobs} jobs)", file=sys.stderr)
        start, end, nrows, gen_s, merge_s = seed_data(chu, a.days, a.rate, a.seed, a.jobs)
        seed_line = f"seeded in {gen_s:.0f} s + {merge_s:.0f} s OPTIMIZE FINAL ({nrows / gen_s:,.0f} rows/s)"
    if a.seed_only:
        print(f"data: {nrows:,} rows, {iso(start)} .. {iso(end)} ({seed_line})")
        return

    server, otlp = ack_server()
    name = f"bench_backfill_{os.getpid()}"
    pg_drop(pgu, name)
    benv = dict(os.environ)
    for k in ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
              "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "BRIDGE_CONFIG", "LOG_LEVEL"):
        benv.pop(k, None)
    benv.update({
        "CLICKHOUSE_URL": chu, "CLICKHOUSE_DATABASE": DB, "CHECKPOINT_DATABASE_URL": pg_create(pgu, name),
        "OTEL_PUSH_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": otlp, "BRIDGE_START_AT": iso(start),
        "BRIDGE_CONFIG": str(ROOT / "config/bridge.yaml"), "BRIDGE_SELF_TELEMETRY": "false",
        "LOG_FORMAT": "json", "LOG_LEVEL": "info",
    })
    if a.temporality:
        benv["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"] = a.temporality
    log = EndpointLog(env["STACK_CLICKHOUSE_LOG"], "")  # every query in the run is the bridge's
    ch_pid = env.get("STACK_CLICKHOUSE_PID")
    ch0, pg0, me0 = proc_cpu(ch_pid) if ch_pid else None, postgres_cpu(env.get("STACK_POSTGRES_DIR", "")), self_cpu()
    Ack.reset()
    print(f"running: otel-bridge run from {iso(start)} (temporality {a.temporality or 'as shipped: cumulative'})",
          file=sys.stderr)
    rq = RunQueue([binary, "run", "--no-progress"])
    rc, wall, cpu, rss, err = run_measured([binary, "run", "--no-progress"], env=benv)
    cpu_wait = rq.seconds()
    ch1, pg1, me1 = proc_cpu(ch_pid) if ch_pid else None, postgres_cpu(env.get("STACK_POSTGRES_DIR", "")), self_cpu()
    with open(env["STACK_CLICKHOUSE_LOG"], "rb") as f:
        f.seek(log.offset)
        nqueries = len(f.read().splitlines())  # one line per query; the run's only client is the bridge
    ep_log = log.seconds()
    nreq, nbytes = Ack.requests, Ack.bytes
    server.shutdown()
    pg_drop(pgu, name)
    if rc != 0:
        sys.exit(f"bench_backfill: otel-bridge exited {rc}: {err.decode()[-3000:]}")
    load = os.getloadavg()
    ps = passes(err)
    rows = sum(p[0] for p in ps.values())
    points = sum(p[1] for p in ps.values())
    ep_cpu = (ch1 - ch0) if ch0 is not None else None
    pg_cpu = (pg1 - pg0) if pg0 is not None and pg1 is not None else None
    verdict, how = bottleneck({"bridge": (cpu + cpu_wait) / wall, "endpoint": ep_log / wall,
                               "postgres": pg_cpu / wall if pg_cpu is not None else None}, cpu_wait / wall)
    lines = [
        f"data:            {nrows:,} source rows, {iso(start)} .. {iso(end)}, {a.rate:g} requests/s mean, seed {a.seed} ({seed_line})",
        f"bridge:          {binary}, config/bridge.yaml as shipped, temporality {a.temporality or 'cumulative (shipped default)'}",
        f"wall time:       {wall:.1f} s",
        f"bridge CPU:      {cpu:.1f} s ({cpu / wall * 100:.0f} % of wall), peak RSS {rss / 1024:.0f} MiB; "
        f"runnable but waiting for a CPU: {cpu_wait:.1f} s (at least)",
        f"rows read:       {rows:,} (rollup result rows)",
        f"points exported: {points:,} in {nreq:,} OTLP requests, {nbytes:,} bytes",
        f"points/s:        {points / wall:,.0f} (end to end, wall)",
    ]
    for p, (r, n, b, d) in sorted(ps.items()):
        lines.append(f"  {p:<14} {r:>11,} rows {n:>11,} points {b:>7,} batches  {d:8.1f} s")
    lines += [
        f"endpoint:        {nqueries:,} queries, {ep_log:.1f} s in their log lines ({ep_log / wall * 100:.0f} % of wall, "
        f"{ep_log / max(nqueries, 1) * 1000:.0f} ms each)"
        + (f", CPU {ep_cpu:.1f} s" if ep_cpu is not None else ""),
        f"postgres CPU:    " + (f"{pg_cpu:.1f} s ({pg_cpu / wall * 100:.0f} % of wall)" if pg_cpu is not None else "unknown"),
        f"OTLP sink CPU:   {me1 - me0:.1f} s (this script)",
        f"load average:    {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} after, on {os.cpu_count()} cores",
        f"bottleneck:      {verdict}",
        f"  derived from   {how}",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
