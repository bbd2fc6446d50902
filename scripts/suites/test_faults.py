"""Fault suite: drives the real `otel-bridge` binary against the real test services and checks the
delivery guarantees of SPEC.md ("Delivery guarantees") under crashes and failures.

    .venv/bin/python -m pytest scripts/suites/test_faults.py [-m quick] [-k NAME] [--seed N] [--full] [--keep]

(with the stack of scripts/stack.sh up and `source .stack/env`; scripts/fault-suite.sh does both).
Every scenario gets its own ClickHouse database and Postgres database, seeds rows in the recent past
(all buckets closed), runs `otel-bridge run` as subprocesses (pipeline file config/fault/fault.yaml,
delta temporality unless a scenario says cumulative, a unique `fault.scenario` resource attribute plus a `fault.process` attribute per
process) and compares what the OTLP receiver acknowledged with counts computed from the raw rows.

A scenario is a plain function `sc_NAME(s)` taking the `Scenario` context below (its services, rng,
processes, checks); it lands its faults by construction and records violations with `s.violate`. Add
one to SCENARIOS and it is a test (`test_fault[NAME]`, in the quick set). See docs/fault-suite.md.
"""
import json
import os
import random
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from harness import ROOT, ClosedPort, SuiteError, gen_rows, http, iso, markdown_table, receiver_points

CONFIG = ROOT / "config" / "fault" / "fault.yaml"
PIPELINE = "fault"
METRIC = "fault.rows"
PROVIDER_KEY = "gen_ai.provider.name"
STEP = 60          # seconds, as in config/fault/fault.yaml
LAG = 120
MAX_POINTS = 25    # max_points_per_request of config/fault/fault.yaml
PROVIDERS = ["openai", "anthropic", "google", "mistral"]


# ----------------------------------------------------------------------------------------------
# one scenario

class Proc:
    def __init__(self, label, popen, log_path, started):
        self.label, self.popen, self.log_path, self.started = label, popen, log_path, started
        self.rc = None          # exit status; -9 when we SIGKILLed it
        self.killed = False
        self.ended = None
        self.allow_repeat = False  # its last acknowledged batch may be sent again (crash / failed commit)

    def log(self):
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""


class Scenario:
    """The context a scenario function gets: its own ClickHouse and Postgres database (`db`) and
    receiver scope, the seeded `rng`, the bridge processes it started (`procs`), what it expects and
    what went wrong (`violations`) or is worth telling (`notes`). `final()` runs after the scenario."""

    def __init__(self, suite, name, description):
        self.suite, self.svc, self.name, self.description = suite, suite.svc, name, description
        suffix = os.urandom(3).hex()
        self.tag = f"{name}-{suffix}"
        self.db = f"fault_{name.replace('-', '_')}_{suffix}"
        suite.svc.scope = self.db
        self.rng = random.Random(f"{suite.seed}:{name}")
        self.procs = []
        self.violations = []
        self.notes = []
        self.temporality = "delta"  # or "cumulative": the expected values are then running totals
        self.expected = {}      # (bucket_start_s, provider) -> count (cumulative: running total)
        self.first_bucket = {}  # provider -> its first bucket with rows (a cumulative series' start)
        self.start = self.end = None
        self.log_dir = suite.log_dir / self.tag
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.result = None
        self.unattributed = set()   # seqs of dropped requests (close_connection) seen by receptions()

    # -- setup ---------------------------------------------------------------------------------
    def setup(self, minutes):
        """Seeds `minutes` of rows ending 5 minutes ago (every bucket closed), plus rows before the
        start that must never be exported; creates the scenario's Postgres database."""
        now = int(time.time())
        self.end = (now // STEP) * STEP - 5 * STEP
        self.start = self.end - minutes * STEP
        svc = self.svc
        svc.ch(f"CREATE DATABASE IF NOT EXISTS `{self.db}`")
        svc.ch(f"CREATE TABLE `{self.db}`.generations ({self.suite.columns}\n) ENGINE = MergeTree ORDER BY created_at")
        lines = []
        rng = self.rng
        for m in range(-20, minutes):          # 20 minutes before the start: outside the export range
            t0 = self.start + m * STEP
            for prov in PROVIDERS:
                n = rng.choice((0, 0, 1, 1, 1, 2, 3, 5))
                for _ in range(n):
                    ms = 0 if rng.random() < 0.05 else rng.randrange(STEP * 1000)  # some on the boundary
                    t = t0 + ms // 1000
                    lines.append(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(t))}.{ms % 1000:03d}\t{prov}")
        rng.shuffle(lines)
        svc.ch(f"INSERT INTO `{self.db}`.generations (created_at, ai_org) FORMAT TabSeparated",
               ("\n".join(lines) + "\n").encode())
        svc.psql(f'CREATE DATABASE "{self.db}"')

    def compute_expected(self, upto):
        """Counts per (bucket, provider) from the raw rows (not from the pipeline's SQL); with
        cumulative temporality each provider's running total from its first bucket on."""
        out = self.svc.ch(f"SELECT toUnixTimestamp64Milli(created_at), ai_org FROM `{self.db}`.generations FORMAT TabSeparated")
        exp = {}
        for line in out.splitlines():
            ms, _, prov = line.partition("\t")
            t = int(ms) // 1000
            if self.start <= t < upto:
                key = (t // STEP * STEP, prov)
                exp[key] = exp.get(key, 0) + 1
        self.first_bucket = {}
        if self.temporality == "cumulative":
            totals = {}
            for key in sorted(exp):
                totals[key[1]] = totals.get(key[1], 0) + exp[key]
                exp[key] = totals[key[1]]
                self.first_bucket.setdefault(key[1], key[0])
        self.expected = exp
        return exp

    # -- processes -----------------------------------------------------------------------------
    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CLICKHOUSE_", "BRIDGE_"))}
        env.update({
            "CLICKHOUSE_URL": self.svc.ch_url,
            "CLICKHOUSE_DATABASE": self.db,
            "CHECKPOINT_DATABASE_URL": self.svc.pg_url_for(self.db),
            "OTEL_PUSH_ENABLED": "true",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": self.svc.otlp_url + self.svc.otlp_scope() + "/v1/metrics",
            "BRIDGE_CONFIG": str(CONFIG),
            "BRIDGE_START_AT": iso(self.start),
            "BRIDGE_EXPORT_MAX_ELAPSED": "30",
            "LOG_LEVEL": "info",
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": self.temporality,
            # The scenarios script the receiver's answers request by request; a self-telemetry
            # request after each run would take answers meant for the rollups. Its own tests are
            # Tests/IntegrationTests/SelfTelemetryTests.swift.
            "BRIDGE_SELF_TELEMETRY": "false",
        })
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def spawn(self, **extra):
        label = f"p{len(self.procs) + 1}"
        env = self.env(**extra)
        env["OTEL_RESOURCE_ATTRIBUTES"] = f"fault.scenario={self.tag},fault.process={label}"
        log_path = self.log_dir / f"{label}.log"
        f = open(log_path, "wb")
        popen = subprocess.Popen([self.suite.binary, "run"], env=env, stdin=subprocess.DEVNULL,
                                 stdout=f, stderr=subprocess.STDOUT, cwd=str(ROOT))
        f.close()
        p = Proc(label, popen, log_path, time.time())
        self.procs.append(p)
        return p

    def wait(self, p, timeout=180):
        try:
            p.rc = p.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.popen.kill()
            p.rc = p.popen.wait()
            self.violate(f"{p.label} did not finish within {timeout} s (killed)")
        p.ended = time.time()
        return p.rc

    def run(self, timeout=180, **extra):
        p = self.spawn(**extra)
        self.wait(p, timeout)
        return p

    def kill(self, p):
        if p.popen.poll() is None:
            os.kill(p.popen.pid, signal.SIGKILL)
            p.killed = True
            p.allow_repeat = True
        p.rc = p.popen.wait()
        p.ended = time.time()

    def wait_progress(self, p, reached, timeout=120):
        """Polls `reached()` until it holds (True) or the process ends / the timeout passes (False)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if p.popen.poll() is not None:
                return False
            if reached():
                return p.popen.poll() is None
            time.sleep(0.01)
        self.note(f"{p.label} did not reach its progress point within {timeout} s")
        return False

    def wait_receiver_idle(self, timeout=30):
        """Waits until the receiver has answered (and recorded) every export of this scenario."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.svc.otlp_progress()["inflight"] == 0:
                return
            time.sleep(0.02)
        self.note(f"the receiver still handled an export of {self.tag} after {timeout} s")

    def bridge_sessions(self):
        n = self.svc.psql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{self.db}' "
                          "AND application_name = 'otel-bridge'", check=False)
        return int(n) if n and n.isdigit() else 0

    def expect_rc(self, p, want, what):
        if p.rc != want:
            tail = " | ".join(p.log().strip().splitlines()[-3:])[:600]
            self.violate(f"{what}: {p.label} exited {p.rc}, expected {want} (log {p.log_path}: {tail})")

    def wait_sessions_gone(self, timeout=10):
        """Waits until no session of the bridge is left on the scenario's database (a killed
        process's backend ends when Postgres notices; until then it holds the pipeline lock)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            n = self.svc.psql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{self.db}' "
                              "AND application_name = 'otel-bridge'", check=False)
            if n == "0":
                return
            time.sleep(0.05)
        self.note(f"a bridge session was still open on {self.db} after {timeout} s")

    # -- checkpoint store ----------------------------------------------------------------------
    def watermark(self):
        out = self.svc.psql(f"SELECT extract(epoch from watermark)::bigint FROM otel_bridge.checkpoints "
                            f"WHERE pipeline = '{PIPELINE}'", db=self.db, check=False)
        return int(out) if out else None

    def has_column(self, table, column):
        out = self.svc.psql(f"SELECT count(*) FROM information_schema.columns WHERE table_schema = 'otel_bridge' "
                            f"AND table_name = '{table}' AND column_name = '{column}'", db=self.db)
        return out == "1"

    def runs(self):
        cols = "id, status, error, points_exported, points_rejected, batches_acknowledged"
        if self.has_column("runs", "rejection_message"):
            cols += ", rejection_message"
        out = self.svc.psql(f"SELECT coalesce(json_agg(r ORDER BY r.id), '[]') FROM (SELECT {cols} FROM otel_bridge.runs "
                            f"WHERE pipeline = '{PIPELINE}') r", db=self.db, check=False)
        return json.loads(out) if out else []

    # -- what the receiver got -----------------------------------------------------------------
    def receptions(self):
        """(acknowledged receptions by key, refused attempts, stats). A reception is
        (seq, process, start_ns, end_ns, value). Only acknowledged (2xx) exports count."""
        recv, refused, acked_reqs = {}, [], {}
        records = self.svc.otlp_records()
        for rec in records:
            for attrs in receiver_points.resources(rec):
                if attrs.get("fault.scenario") != self.tag:
                    continue
                proc = attrs.get("fault.process")
                if not rec.get("accepted"):
                    refused.append((rec["seq"], proc, rec.get("status"), rec.get("error")))
                else:
                    acked_reqs.setdefault(proc, set()).add(rec["seq"])
            if not rec.get("body") and not rec.get("accepted"):
                # a dropped request carries no body: it cannot be attributed to a scenario
                self.unattributed.add(rec["seq"])
        unexpected_metrics = set()  # (seq, name) of metrics other than METRIC in acknowledged exports
        for p in receiver_points.points(records):
            if not p.accepted or p.resource.get("fault.scenario") != self.tag:
                continue
            if p.metric != METRIC:
                unexpected_metrics.add((p.seq, p.metric))
                continue
            if p.kind != "sum":
                continue
            key = (p.time_ns // 1_000_000_000 - STEP, p.attributes.get(PROVIDER_KEY) or "")
            recv.setdefault(key, []).append((p.seq, p.resource.get("fault.process"), p.start_ns, p.time_ns, int(p.value)))
        for v in recv.values():
            v.sort()
        return recv, refused, acked_reqs, len(unexpected_metrics)

    # -- checks --------------------------------------------------------------------------------
    def violate(self, msg):
        self.violations.append(msg)

    def note(self, msg):
        self.notes.append(msg)

    def check_watermark_invariant(self, when):
        """Every expected point of a bucket that ends at or before the stored watermark has been
        acknowledged by the receiver."""
        w = self.watermark()
        if w is None:
            return None
        exp = self.expected or self.compute_expected(self.end)
        recv, _, _, _ = self.receptions()
        missing = sorted(k for k in exp if k[0] + STEP <= w and k not in recv)
        if missing:
            self.violate(f"{when}: watermark {iso(w)} passes {len(missing)} unacknowledged point(s), "
                         f"first bucket {iso(missing[0][0])} {missing[0][1]}")
        return w

    def check_nothing_beyond_watermark(self, p, when):
        """A pass that failed (not crashed, not a failed commit) has no acknowledged point beyond
        the watermark: everything it had acknowledged was committed."""
        w = self.watermark()
        recv, _, _, _ = self.receptions()
        beyond = [k for k, rs in recv.items() if any(r[1] == p.label for r in rs) and k[0] + STEP > (w or 0)]
        if beyond:
            self.violate(f"{when}: {len(beyond)} point(s) acknowledged by {p.label} lie beyond the watermark "
                         f"{iso(w) if w else None}")

    def final(self, clean_run=True):
        """The closing clean run and every check of the scenario."""
        if clean_run:
            self.svc.otlp_script()
            t0 = time.time()
            p = self.run()
            t1 = time.time()
            self.expect_rc(p, 0, "closing clean run")
            lo = (int(t0) - LAG) // STEP * STEP
            hi = (int(t1) - LAG) // STEP * STEP
        else:
            lo, hi = self.end, None
        w = self.watermark()
        exp = self.compute_expected(w if w is not None else self.end)
        if w is None:
            self.violate("no checkpoint at the end")
        elif w < self.end or (hi is not None and not (lo <= w <= hi)):
            self.violate(f"final watermark {iso(w)} is not the expected end "
                         f"({iso(lo)}{'' if hi is None or hi == lo else ' .. ' + iso(hi)})")
        recv, refused, acked_reqs, unexpected_metrics = self.receptions()
        last_acked = {proc: max(seqs) for proc, seqs in acked_reqs.items()}
        crashed = {p.label for p in self.procs if p.allow_repeat}
        allowed_originals = {last_acked[c] for c in crashed if c in last_acked}
        lost = [k for k in exp if k not in recv]
        repeated = {k: rs for k, rs in recv.items() if len(rs) > 1}
        identical = all(len({(r[2], r[3], r[4]) for r in rs}) == 1 for rs in repeated.values())
        wrong = [k for k, rs in recv.items() if k in exp and rs[0][4] != exp[k]]
        unexpected = [k for k in recv if k not in exp]
        bad_repeats = []
        for k, rs in repeated.items():
            for prev in rs[:-1]:
                if prev[0] not in allowed_originals:
                    bad_repeats.append((k, prev))
        repeat_origins = {prev[0] for rs in repeated.values() for prev in rs[:-1]}
        if lost:
            k = min(lost)
            self.violate(f"{len(lost)} point(s) lost, first bucket {iso(k[0])} {k[1]}")
        if wrong:
            k = min(wrong)
            self.violate(f"{len(wrong)} point(s) with a wrong value, first {iso(k[0])} {k[1]}: "
                         f"got {recv[k][0][4]}, expected {exp[k]}")
        if unexpected or unexpected_metrics:
            k = min(unexpected) if unexpected else None
            self.violate(f"{len(unexpected)} unexpected point(s){f', first {iso(k[0])} {k[1]!r}' if k else ''}"
                         f"{f', {unexpected_metrics} unexpected metric(s)' if unexpected_metrics else ''}")
        if not identical:
            self.violate("a repeated point differs from its first send (value or timestamps)")
        # A cumulative series starts at its first bucket and keeps that start across every pass.
        restarted = sorted(k for k, rs in recv.items() if k[1] in self.first_bucket
                           and any(r[2] != self.first_bucket[k[1]] * 1_000_000_000 for r in rs))
        if restarted:
            k = restarted[0]
            self.violate(f"{len(restarted)} cumulative point(s) whose start is not their series' first bucket "
                         f"({iso(self.first_bucket[k[1]])}), first {iso(k[0])} {k[1]}: start {recv[k][0][2]} ns")
        if bad_repeats:
            k, prev = min(bad_repeats)
            self.violate(f"{len(repeated)} point(s) sent more than once; {len(bad_repeats)} repeat(s) of a batch that "
                         f"was not the last acknowledged batch of a crashed/failed pass (first: {iso(k[0])} {k[1]}, "
                         f"originally request #{prev[0]} of {prev[1]})")
        for seq in repeat_origins & allowed_originals:
            size = sum(1 for rs in recv.values() for r in rs if r[0] == seq)
            if size > MAX_POINTS + len(PROVIDERS) * 2:
                self.violate(f"request #{seq} re-sent after a crash holds {size} points, more than one batch")
        buckets_exp = {k[0] for k in exp}
        buckets_recv = {k[0] for k in recv}
        self.result = {
            "scenario": self.name, "passes": len(self.procs), "buckets_expected": len(buckets_exp),
            "buckets_received": len(buckets_recv & buckets_exp), "points_expected": len(exp), "lost": len(lost),
            "repeated": len(repeated), "identical": identical if repeated else None,
            "unexpected": len(unexpected) + len(wrong), "refused": len(refused),
            "batches_resent": len(repeat_origins), "crashes": len(crashed),
            "ok": not self.violations,
        }
        return self.result


# ----------------------------------------------------------------------------------------------
# scenarios

def sc_concurrent(s):
    """Two runs started at the same moment: one holds the lock, the other skips the pipeline.

    The overlap is by construction: the receiver holds the first export (the pass holding the lock
    waits for its answer) until the other process has ended, then answers."""
    s.setup(s.suite.minutes(180, 90))
    s.svc.otlp_script([{"hold": True, "hold_seconds": 150}])
    a = s.spawn()
    b = s.spawn()
    deadline = time.time() + 150
    first = None
    while time.time() < deadline:
        ended = [p for p in (a, b) if p.popen.poll() is not None]
        first = first or (ended[0] if ended else None)
        # one process has ended while the other one's pass is still going (its export held)
        if len(ended) == 2 or (ended and s.svc.otlp_progress()["held"]):
            break
        time.sleep(0.02)
    s.svc.otlp_release()
    s.wait(a)
    s.wait(b)
    s.expect_rc(a, 0, "first concurrent run")
    s.expect_rc(b, 0, "second concurrent run")
    if first is None:
        s.violate("neither concurrent run ended while the other's export was held: none skipped")
    runs = s.runs()
    statuses = sorted(r["status"] for r in runs)
    if statuses != ["ok", "skipped"]:
        s.violate(f"runs of the two concurrent processes: {statuses}, expected one ok and one skipped")
    skipped_logs = [p.label for p in (a, b) if "skipped" in p.log()]
    if len(skipped_logs) != 1:
        s.violate(f"expected exactly one process to log that it skipped the pipeline, got {skipped_logs}")
    else:
        s.note(f"{skipped_logs[0]} skipped while the other's export was held "
               f"({next((r['error'] for r in runs if r['status'] == 'skipped'), '')})")
    s.check_watermark_invariant("after the concurrent runs")


def sc_sigkill(s):
    """A long backfill, SIGKILLed at points of observed progress, then a clean run.

    Every kill lands mid-pass by construction: the receiver answers each export after a delay (so a
    pass takes seconds), the suite waits until the pass is observed at the progress point the seed
    chose (the process connected to Postgres, or k more exports acknowledged by the receiver) and
    kills it then, with k at most a fraction of the exports still to go. A pass that ended before its
    kill anyway (it cannot, unless the backlog ran out) is not a failure: the attempt is repeated."""
    quick = s.suite.quick
    kills = 8 if quick else 25
    s.setup(240 if quick else 1440)
    exp = s.compute_expected(s.end)
    total = (s.end - s.start) // STEP
    delay = 0.05 if quick else 0.04
    s.svc.otlp_script([], {"delay_seconds": delay})
    actual_kills = finished_early = attempts = 0
    points = []
    while actual_kills < kills and attempts < kills * 3:
        attempts += 1
        w0 = s.watermark() or s.start
        # exports still to go (each holds at most MAX_POINTS points of whole buckets): the kill point
        # is chosen well inside them, so the pass cannot have finished when it is reached
        left_points = sum(1 for k in exp if k[0] >= w0)
        left_requests = -(-left_points // MAX_POINTS)
        if left_requests < 3:
            s.note(f"the backlog ran out after {actual_kills} kill(s) ({left_requests} export(s) left)")
            break
        k_max = max(1, min(6, left_requests // (kills - actual_kills + 1)))
        k = s.rng.randint(0, k_max)                # 0: once the process is connected to Postgres
        extra = s.rng.uniform(0, delay * 1.5)      # then somewhere in the export/commit cycle
        before = s.svc.otlp_progress()["accepted"]
        p = s.spawn()
        reached = s.wait_progress(p, lambda: (s.bridge_sessions() > 0) if k == 0
                                  else s.svc.otlp_progress()["accepted"] - before >= k)
        if reached:
            time.sleep(extra)
        alive = p.popen.poll() is None
        s.kill(p)
        point = f"{'connected' if k == 0 else f'{k} ack(s)'} +{extra * 1000:.0f} ms"
        if alive and reached:
            actual_kills += 1
            points.append(point)
        else:
            finished_early += 1
            if p.rc not in (0, -9):
                s.violate(f"{p.label} exited {p.rc} before its kill (log {p.log_path})")
            s.note(f"{p.label} ended before its kill point ({point}); attempt repeated")
        s.wait_receiver_idle()                    # the receiver has recorded the request in flight
        s.wait_sessions_gone()
        s.check_watermark_invariant(f"after kill {actual_kills} ({p.label}, {point})")
    s.svc.otlp_script()
    w = s.watermark() or s.start
    s.note(f"{actual_kills} SIGKILLs mid-pass at {', '.join(points)}; {finished_early} attempt(s) repeated; "
           f"backfill {100 * (w - s.start) // max(1, s.end - s.start)} % done before the clean run "
           f"({total} buckets, {len(exp)} points)")
    if actual_kills == 0:
        s.violate("no kill landed mid-pass: the scenario tested nothing")


def sc_cumulative_sigkill(s):
    """The backfill SIGKILLed at observed progress points (`sigkill`), with cumulative temporality:
    every point is its series' running total from the rows (the kills land between a batch's send
    and its commit too, where the commit's writes are in flight in Postgres), a re-sent batch is
    identical, and every series keeps its first bucket as its start across the passes."""
    s.temporality = "cumulative"
    sc_sigkill(s)


def sc_late_fold_sigkill(s):
    """Late rows folded by a pass that is SIGKILLed at seeded moments (late_data: fold).

    A first run exports the backlog up to 20 minutes ago (a copy of the pipeline file with lag 20m,
    late_data_check 40m); then rows are inserted into exported buckets, inside the check. Every
    later run (lag 2m) has new buckets to send, so it folds: it reads the check window again and
    carries the differences into its first bucket, whose commit also moves the baseline. Runs are
    SIGKILLed, by construction before that commit or around it, at moments the seed chooses: once
    connected to Postgres (during the re-read), while the first export is held at the receiver
    (delivered, not acknowledged: the kill lands before the commit; the receiver records it once
    released, so the next run re-sends that batch), or just after the first acknowledgement
    (around the commit). Then a clean run. Checks: every provider's total in the
    receiver (each point counted once; a re-sent batch must be identical) equals the raw table up
    to the watermark; the late rows were folded exactly once (runs.late_folded sums to the number
    of (bucket, provider) cells that changed)."""
    quick = s.suite.quick
    kills = 4 if quick else 10
    s.setup(40)
    query = ROOT / "config" / "fault" / "rows.sql"
    text = CONFIG.read_text().replace("query: rows.sql", f"query: {query}")

    def config(lag):
        path = s.log_dir / f"fault-lag-{lag}.yaml"
        path.write_text(text.replace("lag: 120s", f"lag: {lag}").replace("defaults:\n", "defaults:\n  late_data_check: 40m\n  late_data: fold\n", 1))
        return path

    behind, current = config("20m"), config("120s")
    first = s.run(BRIDGE_CONFIG=behind)
    s.expect_rc(first, 0, "the run that exports the backlog up to 20 minutes ago")
    w0 = s.watermark()
    if w0 is None:
        s.violate("no checkpoint after the first run")
        return
    # Late rows in 3 exported buckets 3 to 15 minutes before the watermark: inside the 40 min check
    # (which reaches about 20 minutes before it) with minutes to spare.
    cells, lines = set(), []
    for m in s.rng.sample(range(3, 15), 3):
        t0 = w0 - m * STEP
        for prov in s.rng.sample(PROVIDERS, s.rng.randint(1, len(PROVIDERS))):
            for _ in range(s.rng.randint(1, 3)):
                t = t0 + s.rng.randrange(STEP)
                lines.append(f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(t))}.000\t{prov}")
            cells.add((t0, prov))
    s.svc.ch(f"INSERT INTO `{s.db}`.generations (created_at, ai_org) FORMAT TabSeparated", ("\n".join(lines) + "\n").encode())

    def folded():
        out = s.svc.psql(f"SELECT coalesce(sum(late_folded), 0) FROM otel_bridge.runs WHERE pipeline = '{PIPELINE}'",
                         db=s.db, check=False)
        return int(out) if out and out.isdigit() else 0

    points, landed_before = [], 0
    for i in range(kills):
        if folded():
            break
        # The first kill lands before the commit by construction; later ones where the seed says.
        moment = "held" if i == 0 else s.rng.choice(("connected", "held", "acked"))
        extra = s.rng.uniform(0, 0.2) if moment == "connected" else s.rng.uniform(0, 0.05)
        # "held": the first export waits at the receiver until released, so the kill lands after
        # the batch carrying the fold was delivered and before its acknowledgement and commit.
        s.svc.otlp_script([{"hold": True}] if moment == "held" else [], {"delay_seconds": 0.1})
        before = s.svc.otlp_progress()
        p = s.spawn(BRIDGE_CONFIG=current)
        reached = s.wait_progress(p, {
            "connected": lambda: s.bridge_sessions() > 0,
            "held": lambda: s.svc.otlp_progress()["held"] >= 1,
            "acked": lambda: s.svc.otlp_progress()["accepted"] - before["accepted"] >= 1,
        }[moment])
        if reached:
            time.sleep(extra)
        s.kill(p)
        s.svc.otlp_release()
        s.wait_receiver_idle()
        s.wait_sessions_gone()
        if not folded():
            landed_before += 1
        points.append(f"{moment} +{extra * 1000:.0f} ms{'' if reached else ' (ended first)'}")
    s.svc.otlp_script()
    last = s.run(BRIDGE_CONFIG=current)
    s.expect_rc(last, 0, "closing clean run")
    s.note(f"{len(points)} SIGKILL(s) at {', '.join(points) or '-'}; {landed_before} before the fold was committed; "
           f"{len(cells)} late (bucket, provider) cells in {len({c[0] for c in cells})} buckets")
    if landed_before == 0:
        s.violate("no kill landed before the fold was committed: the scenario tested nothing")

    # Every provider's total in the receiver equals the table's, each point counted once.
    w = s.watermark()
    recv, _, _, _ = s.receptions()
    totals, differing = {}, 0
    for (bucket, prov), rs in recv.items():
        if len({(r[2], r[3], r[4]) for r in rs}) > 1:
            differing += 1
        totals[prov] = totals.get(prov, 0) + rs[-1][4]
    exp = {}
    for (bucket, prov), n in s.compute_expected(w).items():
        exp[prov] = exp.get(prov, 0) + n
    if differing:
        s.violate(f"{differing} point(s) re-sent with another value or time: a re-sent batch must be identical")
    if totals != exp:
        s.violate(f"totals per provider {totals} differ from the table's {exp} (late rows lost or folded twice)")
    if folded() != len(cells):
        s.violate(f"runs.late_folded sums to {folded()}, expected {len(cells)}: each late cell is folded exactly once")
    repeated = {k: rs for k, rs in recv.items() if len(rs) > 1}
    # These checks replace final()'s per-point ones (a bucket that carries late rows is meant to
    # hold more than its own rows): the suite's closing call returns this result as it is.
    s.final = lambda clean_run=True: s.result
    s.result = {
        "scenario": s.name, "passes": len(s.procs), "buckets_expected": len({k[0] for k in s.expected}),
        "buckets_received": len({k[0] for k in recv} & {k[0] for k in s.expected}), "points_expected": len(s.expected),
        "lost": sum(1 for prov in exp if totals.get(prov, 0) < exp[prov]), "repeated": len(repeated),
        "identical": differing == 0 if repeated else None, "unexpected": 0 if totals == exp else 1, "refused": 0,
        "batches_resent": len({rs[0][0] for rs in repeated.values()}), "crashes": sum(1 for p in s.procs if p.killed),
        "ok": not s.violations,
    }


def sc_retry_after(s):
    """503 Retry-After: 1, then 429 Retry-After: <HTTP-date>, then the receiver recovers.

    The HTTP-date is made by the receiver when it answers (2.5 s ahead), so a slow start of the
    process cannot put it in the past; the waits are checked as lower bounds between the receiver's
    answer and the next attempt it saw."""
    s.setup(s.suite.minutes(120, 60))
    s.svc.otlp_script([{"status": 503, "retry_after": "1"}, {"status": 429, "retry_after_date_in": 2.5}])
    p = s.run(BRIDGE_EXPORT_MAX_ELAPSED=30)
    s.expect_rc(p, 0, "run through 503 and 429")
    _, refused, _, _ = s.receptions()
    if len(refused) != 2:
        s.violate(f"expected the 2 refused attempts (503, 429) recorded, got {len(refused)}")
    recs = sorted((r for r in s.svc.otlp_records() if r.get("scope") == s.svc.otlp_scope()), key=lambda r: r["seq"])
    if len(recs) >= 3 and recs[0]["status"] == 503 and recs[1]["status"] == 429:
        gap1 = recs[1]["t_received"] - recs[0]["t_answered"]
        gap2 = recs[2]["t_received"] - recs[1]["t_answered"]
        # Retry-After: 1 -> at least 1 s; an HTTP-date 2.5 s ahead (whole seconds) -> at least 1 s
        if gap1 < 0.95:
            s.violate(f"the retry after 503 Retry-After: 1 came {gap1:.2f} s after the answer")
        if gap2 < 0.95:
            s.violate(f"the retry after 429 Retry-After: <HTTP-date 2.5 s ahead> came {gap2:.2f} s after the answer")
        s.note(f"retries {gap1:.2f} s after 503 (Retry-After: 1) and {gap2:.2f} s after 429 (Retry-After: HTTP-date)")
    else:
        s.violate(f"expected 503, 429, then an accepted export; the receiver saw {[r['status'] for r in recs[:3]]}")


def sc_receiver_down(s):
    """The receiver is unreachable longer than the retry budget, then comes back."""
    s.setup(s.suite.minutes(120, 60))
    # 1. nothing listens on the endpoint (the port stays bound, unlistened, for the whole run)
    with ClosedPort() as port:
        p = s.run(OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=f"http://127.0.0.1:{port}/v1/metrics", BRIDGE_EXPORT_MAX_ELAPSED=2)
    s.expect_rc(p, 1, "run against a closed port")
    w = s.watermark()
    if w != s.start:
        s.violate(f"watermark {iso(w) if w else None} after the run against a closed port, expected {iso(s.start)}")
    # 2. the receiver drops every connection (as its default, so however many attempts the budget
    # allows all fail); the budget leaves room for the first retry (full jitter of 1 s) on a busy machine
    before = s.svc.otlp_progress()["received"]
    s.svc.otlp_script([], {"close_connection": True})
    p = s.run(BRIDGE_EXPORT_MAX_ELAPSED=5)
    s.svc.otlp_script()
    s.expect_rc(p, 1, "run while the receiver drops connections")
    w = s.watermark()
    if w != s.start:
        s.violate(f"watermark {iso(w) if w else None} after the dropped connections, expected {iso(s.start)}")
    s.wait_receiver_idle()
    dropped = s.svc.otlp_progress()["received"] - before
    if dropped < 2:
        s.violate(f"{dropped} attempt(s) while the receiver dropped connections: a dropped connection must be retried")
    s.note(f"{dropped} dropped attempt(s) in a 5 s retry budget")
    s.check_watermark_invariant("after the outage")


def sc_rejected_400(s):
    """400 with a message: not retried, the pass fails, the message is in runs.error."""
    s.setup(s.suite.minutes(120, 60))
    msg = f"fault-suite says no ({s.tag})"
    s.svc.otlp_script([{"status": 400, "message": msg}])
    p = s.run(BRIDGE_EXPORT_MAX_ELAPSED=30)
    s.expect_rc(p, 1, "run answered 400")
    w = s.watermark()
    if w != s.start:
        s.violate(f"watermark {iso(w) if w else None} after the 400, expected {iso(s.start)}")
    _, refused, acked, _ = s.receptions()
    attempts = len(refused) + sum(len(v) for v in acked.values())
    if attempts != 1:
        s.violate(f"{attempts} export attempts recorded for the 400 run, expected 1 (no retry)")
    errors = [r.get("error") or "" for r in s.runs() if r["status"] == "failed"]
    if not any(msg in e for e in errors):
        s.violate(f"the receiver's message is not in otel_bridge.runs.error: {errors}")
    s.svc.otlp_script()


def sc_partial_success(s):
    """200 with partial_success: the batch counts as acknowledged, the rejection is recorded."""
    s.setup(s.suite.minutes(120, 60))
    msg = f"fault-suite dropped 3 points ({s.tag})"
    s.svc.otlp_script([{"partial_success": {"rejected_data_points": 3, "error_message": msg}}])
    p = s.run()
    s.expect_rc(p, 0, "run with a partial success")
    w = s.watermark()
    if w is None or w < s.end:
        s.violate(f"watermark {iso(w) if w else None} did not move past the data after a partial success")
    runs = [r for r in s.runs() if r["status"] == "ok"]
    rejected = sum(r["points_rejected"] for r in runs)
    if rejected != 3:
        s.violate(f"otel_bridge.runs.points_rejected = {rejected}, expected 3")
    if runs and "rejection_message" in runs[0]:
        if not any(msg in (r.get("rejection_message") or "") for r in runs):
            s.violate(f"runs.rejection_message does not hold the receiver's message: {[r.get('rejection_message') for r in runs]}")
    else:
        s.note("otel_bridge.runs.rejection_message does not exist (migration 2 missing): only points_rejected checked")


def sc_clickhouse_faults(s):
    """ClickHouse down, a mid-stream exception, a 503, a timeout: each fails the pass and moves nothing."""
    s.setup(s.suite.minutes(180, 90))
    svc = s.svc

    def failed_pass(label, progress=False, **extra):
        """A pass that must fail. Without `progress` it moves nothing; with it, batches acknowledged
        before the failure may be committed, but nothing acknowledged is left beyond the watermark."""
        w0 = s.watermark()
        w0 = w0 if w0 is not None else s.start
        p = s.run(**extra)
        svc.ch_reset()
        s.expect_rc(p, 1, label)
        w = s.watermark()
        if w is None or w < w0 or (not progress and w != w0):
            s.violate(f"{label}: watermark moved from {iso(w0)} to {iso(w) if w else None}")
        elif progress:
            s.note(f"{label}: the watermark moved {(w - w0) // STEP} bucket(s) before the failure")
        s.check_nothing_beyond_watermark(p, label)
        s.check_watermark_invariant(label)
        return p

    # (a) nothing listens on CLICKHOUSE_URL
    with ClosedPort() as port:
        p = failed_pass("(a) ClickHouse down", CLICKHOUSE_URL=f"http://127.0.0.1:{port}", CLICKHOUSE_CONNECT_TIMEOUT=2)
    if any(r[1] == p.label for rs in s.receptions()[0].values() for r in rs):
        s.violate("(a) the run exported something although ClickHouse was down")
    # (b) an exception in the middle of the result
    svc.ch_control({"mid_stream_exception": {"after_bytes": 300, "style": "tagged", "code": 395,
                                              "message": "boom", "count": 1}})
    p = failed_pass("(b) mid-stream exception")
    if "boom" not in p.log():
        s.note("(b) the mid-stream exception's message is not in the log")
    # (b') the same, further into a query (after batches of the same query were committed), both styles
    for style in ("tagged", "legacy"):
        svc.ch_control({"mid_stream_exception": {"after_bytes": 1500, "style": style, "code": 395,
                                                  "message": "boom", "count": 1}})
        # uncompressed, so the rows before the exception reach the bridge as they are written
        failed_pass(f"(b') {style} mid-stream exception after 1500 bytes", progress=True, CLICKHOUSE_COMPRESSION="false")
    # (c) 503 once
    svc.ch_control({"fail_status": {"status": 503, "code": 202, "count": 1}})
    failed_pass("(c) 503")
    # (d) slower than CLICKHOUSE_MAX_EXECUTION_TIME: the client gives up at max_execution_time + 30 s
    svc.ch_control({"delay_seconds": 33})
    t0 = time.time()
    failed_pass("(d) timeout", CLICKHOUSE_MAX_EXECUTION_TIME=1)
    s.note(f"(d) the delayed query failed after {time.time() - t0:.0f} s (client timeout = max_execution_time + 30 s)")
    svc.ch_reset()


def sc_postgres_restart(s):
    """The checkpoint store restarts in the middle of a pass.

    The restart lands mid-pass by construction: the receiver answers each export after 0.25 s (a
    pass lasts ~10 s), and the cluster restarts once the receiver has acknowledged k exports of the
    pass (k from the seed), or, for some seeds, while the receiver holds the (k+1)-th export
    unanswered (released after the restart, so its acknowledgement arrives with Postgres gone)."""
    s.setup(s.suite.minutes(240, 120))
    k = s.rng.randint(1, 4)
    held = s.rng.random() < 0.5
    for attempt in range(3):
        s.svc.otlp_script([{"delay_seconds": 0.25}] * k + ([{"hold": True, "hold_seconds": 120}] if held else []),
                          {"delay_seconds": 0.25})
        before = s.svc.otlp_progress()["accepted"]
        p = s.spawn(OTEL_EXPORTER_OTLP_TIMEOUT=120000)  # ms: a held export is not retried meanwhile
        if held:
            reached = s.wait_progress(p, lambda: s.svc.otlp_progress()["held"] > 0)
        else:
            reached = s.wait_progress(p, lambda: s.svc.otlp_progress()["accepted"] - before >= k)
        if reached:
            break
        s.wait(p, 120)
        s.expect_rc(p, 0, "a pass that ended before its restart point")
        if (s.watermark() or s.start) >= s.end:
            s.violate("the pass finished the backlog before the restart point: nothing was tested")
            return
        s.note(f"{p.label} ended before the restart point; attempt repeated")
    else:
        s.violate("no pass reached the restart point in 3 attempts")
        return
    point = f"{'while export ' + str(k + 1) + ' was held' if held else 'after ' + str(k) + ' acknowledged export(s)'}"
    s.svc.pg_restart()
    s.svc.otlp_release()
    s.wait(p, 120)
    s.svc.otlp_script()
    s.wait_receiver_idle()
    p.allow_repeat = True      # its last acknowledged batch may be uncommitted (commit failed)
    s.expect_rc(p, 1, "pass across a Postgres restart")
    summary = [l for l in p.log().splitlines() if l.startswith(f"{PIPELINE}: ")]
    s.note(f"restart {point}; failed pass: {summary[-1][:400] if summary else '(no summary line)'}")
    s.check_watermark_invariant("after the restart")


def sc_traces(s):
    """GenAI traces beside the metrics: the traces endpoint down, answering 503, then a partial
    success. The metrics are never held back; the traces' keyset watermark moves only with
    acknowledged spans, and in the end every row is exactly one acknowledged span."""
    s.setup(s.suite.minutes(60, 30))
    svc = s.svc
    # The suite's rows are (created_at, ai_org) only: give each an id, as the gateway's rows have.
    svc.ch(f"CREATE TABLE `{s.db}`.g2 AS `{s.db}`.generations")
    svc.ch(f"INSERT INTO `{s.db}`.g2 SELECT * REPLACE (generateUUIDv4() AS id) FROM `{s.db}`.generations")
    svc.ch(f"DROP TABLE `{s.db}`.generations")
    svc.ch(f"RENAME TABLE `{s.db}`.g2 TO `{s.db}`.generations")
    want = set(svc.ch(f"SELECT toString(id) FROM `{s.db}`.generations WHERE created_at >= "
                      f"toDateTime64({s.start}, 3, 'UTC') FORMAT TabSeparated").split())
    scope = f"/s/{s.db}-traces"

    def traces(**extra):
        env = {"EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true", "EXPERIMENTAL_GEN_AI_OTEL_TRACES_PAGE_SIZE": 97,
               "EXPERIMENTAL_GEN_AI_OTEL_TRACES_MAX_SPANS_PER_REQUEST": 40,
               "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT": svc.otlp_url + scope,
               "EXPERIMENTAL_GEN_AI_OTEL_RESOURCE_ATTRIBUTES": f"fault.scenario={s.tag}",
               "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": ROOT / "queries" / "gen_ai_traces.sql"}
        env.update(extra)
        return s.run(**env)

    def script(entries, default=None):
        status, out = http("POST", svc.otlp_url + "/__control", {"scope": scope, "script": entries, "default": default})
        if status != 200:
            raise SuiteError(f"OTLP /__control {status}: {out[:300]!r}")

    def spans():
        """(portkey.id of every acknowledged span, in order; attempts recorded)."""
        status, out = http("GET", svc.otlp_url + "/__requests?" + urllib.parse.urlencode({"signal": "traces", "scope": scope}, safe="/"))
        records = json.loads(out)
        ids = []
        for rec in records:
            if not rec.get("accepted"):
                continue
            for rs in (rec.get("body") or {}).get("resourceSpans", []):
                for ss in rs.get("scopeSpans", []):
                    for sp in ss.get("spans", []):
                        attrs = {a["key"]: a["value"].get("stringValue") for a in sp.get("attributes", [])}
                        ids.append(attrs.get("portkey.id"))
        return ids, len(records)

    def keyset():
        out = svc.psql("SELECT coalesce(watermark_id, '') FROM otel_bridge.checkpoints WHERE pipeline = 'gen_ai_traces'",
                       db=s.db, check=False)
        return out or None

    # 1. nothing listens on the traces endpoint: the metrics are exported all the same
    with ClosedPort() as port:
        p = traces(EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}", BRIDGE_EXPORT_MAX_ELAPSED=2)
    s.expect_rc(p, 1, "run with the traces endpoint down")
    if (s.watermark() or 0) < s.end:
        s.violate(f"the metrics watermark is {iso(s.watermark()) if s.watermark() else None} with the traces endpoint down, expected {iso(s.end)} or later")
    if keyset() not in (None, ""):
        s.violate(f"the traces watermark moved to row {keyset()} while its endpoint was down")
    # 2. the traces endpoint answers 503, longer than the retry budget
    script([], {"status": 503})
    p = traces(BRIDGE_EXPORT_MAX_ELAPSED=3)
    s.expect_rc(p, 1, "run with the traces endpoint answering 503")
    ids, attempts = spans()
    if ids or keyset() not in (None, ""):
        s.violate(f"{len(ids)} span(s) acknowledged / watermark {keyset()!r} while the endpoint answered 503")
    if attempts < 2:
        s.violate(f"{attempts} attempt(s) against 503: a 503 must be retried")
    # 3. back, with a partial success on the first request
    msg = f"fault-suite dropped 2 spans ({s.tag})"
    script([{"partial_success": {"rejected_spans": 2, "error_message": msg}}])
    p = traces()
    s.expect_rc(p, 0, "run with a partial success of the traces endpoint")
    ids, _ = spans()
    if sorted(ids) != sorted(want):
        repeated = len(ids) - len(set(ids))
        s.violate(f"{len(set(want) - set(ids))} row(s) without a span, {len(set(ids) - want)} unexpected, {repeated} repeated "
                  f"({len(ids)} spans for {len(want)} rows)")
    out = svc.psql("SELECT coalesce(sum(points_rejected), 0) || '|' || coalesce(string_agg(rejection_message, ';'), '') "
                   "FROM otel_bridge.runs WHERE pipeline = 'gen_ai_traces' AND status = 'ok'", db=s.db)
    rejected, _, messages = out.partition("|")
    if rejected != "2" or msg not in messages:
        s.violate(f"gen_ai_traces runs record {rejected} rejected span(s) and {messages!r}, expected 2 and the receiver's message")
    # 4. nothing more to send
    p = traces()
    s.expect_rc(p, 0, "a second run")
    if len(spans()[0]) != len(ids):
        s.violate("a second run sent spans again")
    s.note(f"{len(want)} rows, {len(ids)} spans acknowledged once each; 503 attempts: {attempts}")
    # 5. a SIGKILL once the receiver has acknowledged k exports (rewound, to a fresh receiver scope):
    # the next run re-sends at most the batch acknowledged last before the kill, identical
    svc.psql("UPDATE otel_bridge.checkpoints SET watermark = to_timestamp(%d), watermark_id = NULL "
             "WHERE pipeline = 'gen_ai_traces'" % s.start, db=s.db)
    scope = f"/s/{s.db}-traces-kill"
    k = s.rng.randint(2, 6)

    def accepted():
        status, out = http("GET", svc.otlp_url + "/__control?" + urllib.parse.urlencode({"scope": scope}))
        return json.loads(out).get("accepted", 0) if status == 200 else 0

    env = {"EXPERIMENTAL_GEN_AI_OTEL_TRACES_ENABLED": "true", "EXPERIMENTAL_GEN_AI_OTEL_TRACES_PAGE_SIZE": 23,
           "EXPERIMENTAL_GEN_AI_OTEL_TRACES_MAX_SPANS_PER_REQUEST": 10, "OTEL_PUSH_ENABLED": "false",
           "EXPERIMENTAL_GEN_AI_OTEL_EXPORTER_OTLP_ENDPOINT": svc.otlp_url + scope,
           "EXPERIMENTAL_GEN_AI_OTEL_RESOURCE_ATTRIBUTES": f"fault.scenario={s.tag}",
           "EXPERIMENTAL_GEN_AI_OTEL_TRACES_QUERY": ROOT / "queries" / "gen_ai_traces.sql"}
    script([{"delay_seconds": 0.05}] * 40)  # a pass of ~17 exports lasts long enough to be killed in
    victim = s.spawn(**env)
    if s.wait_progress(victim, lambda: accepted() >= k):
        s.kill(victim)
    else:
        s.wait(victim)
        s.note("the pass ended before its kill point")
    s.wait_sessions_gone()
    script([])
    p = s.run(**env)
    s.expect_rc(p, 0, "the run after the SIGKILL")
    status, out = http("GET", svc.otlp_url + "/__requests?" + urllib.parse.urlencode({"signal": "traces", "scope": scope}, safe="/"))
    sends = {}   # portkey.id -> [(seq, span as sent)]
    seqs = []
    for rec in json.loads(out):
        if not rec.get("accepted"):
            continue
        seqs.append(rec["seq"])
        for rs in (rec.get("body") or {}).get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for sp in ss.get("spans", []):
                    rid = {a["key"]: a["value"].get("stringValue") for a in sp.get("attributes", [])}.get("portkey.id")
                    sends.setdefault(rid, []).append((rec["seq"], json.dumps(sp, sort_keys=True)))
    if set(sends) != want:
        s.violate(f"after the SIGKILL: {len(want - set(sends))} row(s) without a span, {len(set(sends) - want)} unexpected")
    repeats = {rid: v for rid, v in sends.items() if len(v) > 1}
    origins = {v[0][0] for v in repeats.values()}
    if len(origins) > 1:
        s.violate(f"after the SIGKILL, spans of {len(origins)} requests were re-sent; at most the last acknowledged batch may be")
    if any(len({sp for _, sp in v}) != 1 for v in repeats.values()):
        s.violate("a re-sent span differs from its first send")
    if any(len(v) > 2 for v in repeats.values()):
        s.violate("a span was sent more than twice")
    s.note(f"SIGKILL after {k} acknowledged exports: {len(repeats)} span(s) re-sent, identical")
    s.final(clean_run=False)


SCENARIOS = [
    ("concurrent", sc_concurrent, "two `run`s started together over one backlog, the first export held"),
    ("sigkill", sc_sigkill, "a long backfill SIGKILLed at observed progress points"),
    ("cumulative-sigkill", sc_cumulative_sigkill, "the same with cumulative temporality: running totals and starts"),
    ("late-fold-sigkill", sc_late_fold_sigkill, "late rows folded by a pass SIGKILLed before/around its commit"),
    ("retry-after", sc_retry_after, "503 Retry-After: 1, then 429 Retry-After: HTTP-date"),
    ("receiver-down", sc_receiver_down, "closed port, then dropped connections, longer than the budget"),
    ("rejected-400", sc_rejected_400, "400 with a message"),
    ("partial-success", sc_partial_success, "200 with partial_success (3 rejected)"),
    ("clickhouse-faults", sc_clickhouse_faults, "ClickHouse down / mid-stream exceptions / 503 / timeout"),
    ("postgres-restart", sc_postgres_restart, "the Postgres cluster restarts mid-pass (after k acks)"),
    ("traces", sc_traces, "GenAI traces endpoint down, 503, then partial success; metrics unaffected"),
]


class FaultSuite:
    """What every scenario shares: the services, the binary, the seed, the size, the log folder."""

    def __init__(self, svc, binary, seed, quick, keep, log_dir):
        self.svc, self.binary, self.seed, self.quick, self.keep = svc, binary, seed, quick, keep
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.columns = gen_rows().COLUMNS

    def minutes(self, full, quick):
        return quick if self.quick else full

    def cleanup(self, s):
        if self.keep or not s.result or not s.result["ok"]:
            return
        try:
            self.svc.ch(f"DROP DATABASE IF EXISTS `{s.db}`")
            self.svc.psql(f'DROP DATABASE IF EXISTS "{s.db}" WITH (FORCE)', check=False)
        except SuiteError:
            pass



# ----------------------------------------------------------------------------------------------
# the tests

@pytest.fixture(scope="session")
def fault_suite(services, binary, seed, keep, log_root, pytestconfig):
    if not CONFIG.exists():
        pytest.fail(f"missing {CONFIG}", pytrace=False)
    return FaultSuite(services, binary, seed, not pytestconfig.getoption("full"), keep, log_root / "fault-suite")


@pytest.mark.quick
@pytest.mark.parametrize("name, scenario, description", SCENARIOS, ids=[name for name, _, _ in SCENARIOS])
def test_fault(name, scenario, description, fault_suite, result_table):
    """One scenario, then the closing clean run and every check of `Scenario.final`."""
    results = result_table("fault suite: delivery guarantees under faults", summary)
    s = Scenario(fault_suite, name, description)
    t0 = time.time()
    try:
        scenario(s)
        s.final()
    except SuiteError as e:
        s.violate(f"could not run: {e}")
    except Exception as e:  # a bug of the suite: this scenario's failure, with its traceback below
        s.violate(f"suite error: {type(e).__name__}: {e}")
        raise
    finally:
        for p in s.procs:
            if p.popen.poll() is None:
                s.kill(p)
        fault_suite.svc.ch_reset()
        try:
            fault_suite.svc.otlp_script()
        except (SuiteError, OSError):
            pass
        if s.result is None:
            s.result = {"scenario": name, "passes": len(s.procs), "buckets_expected": 0, "buckets_received": 0,
                        "points_expected": 0, "lost": 0, "repeated": 0, "identical": None, "unexpected": 0,
                        "refused": 0, "batches_resent": 0, "crashes": 0}
        s.result.update(ok=not s.violations, notes=list(s.notes), took=time.time() - t0, db=s.db)
        results.append(s.result)
        fault_suite.cleanup(s)
    for n in s.notes:
        print(f"note: {n}")
    if s.violations:
        pytest.fail("\n".join(
            [f"{name} ({description}): {len(s.violations)} violation(s), tag {s.tag}:"] + [f"  - {v}" for v in s.violations]
            + [f"  note: {n}" for n in s.notes]
            + [f"  logs {s.log_dir}; kept ClickHouse database {s.db} and Postgres database {s.db}"]), pytrace=False)


def summary(results, config):
    failed = [r["scenario"] for r in results if not r["ok"]]
    lines = [table(results), ""]
    for r in results:
        lines += [f"{r['scenario']}: {n}" for n in r["notes"]]
    lines += ["", f"fault suite: {len(results) - len(failed)}/{len(results)} scenarios held the guarantees "
              f"in {sum(r['took'] for r in results):.0f} s (seed {config.getoption('seed')})"
              + (f"; failed: {', '.join(failed)}; kept databases: {', '.join(r['db'] for r in results if not r['ok'])}"
                 if failed else "")]
    return "\n".join(lines)


def table(results):
    head = ["scenario", "passes", "buckets expected", "received", "lost", "repeated", "repeats identical", "result"]
    rows = [head, ["---"] * len(head)]
    for r in results:
        rows.append([r["scenario"], str(r["passes"]), f"{r['buckets_expected']} ({r['points_expected']} points)",
                     str(r["buckets_received"]), str(r["lost"]),
                     str(r["repeated"]) + (f" ({r['batches_resent']} batch(es), {r['crashes']} crash(es))" if r["crashes"] else ""),
                     "-" if r["identical"] is None else ("yes" if r["identical"] else "NO"),
                     "ok" if r["ok"] else "FAIL"])
    return markdown_table(rows)
