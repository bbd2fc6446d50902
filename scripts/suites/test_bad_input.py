"""Bad-input suite: drives the real `otel-bridge` binary with hostile tenant data, operator typos
(environment, pipeline YAML, command line) and hostile answers from ClickHouse and the OTLP
receiver, and checks the "Delivery guarantees" of SPEC.md for each: the expected exit code, a clear
first error line, no trap and no hang, no secret in any output or stored error, the watermark moved
only when it may, points sent only when they may.

    .venv/bin/python -m pytest scripts/suites/test_bad_input.py [-m quick] [-k NAME] [--keep]

(with the stack of scripts/stack.sh up and `source .stack/env`). Every case gets its own ClickHouse
database (10 minutes of rows from scripts/services/gen_rows.py, ending 5 minutes ago, plus the case's
hostile rows), its own Postgres database (owned by a role with a recognisable password) and its own
receiver scope, runs the shipped pipelines (config/bridge.yaml) or a broken copy of them, and adds one
row to the table printed at the end. A case is a `Case` in `cases()`: it is a test
(`test_bad_input[NAME]`), in the quick set with `quick=True`. See docs/bad-input-suite.md.
"""
import json
import os
import random
import re
import subprocess
import tempfile
import time
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

import pytest

from harness import ROOT, ClosedPort, SuiteError, gen_rows, iso, markdown_table, receiver_points

CONFIG = ROOT / "config" / "bridge.yaml"
PIPELINES = ["requests", "tokens", "cost", "latency"]
STEP = 60
MINUTES = 10

# Recognisable secrets: none of them may appear in stdout, stderr or a stored error.
PG_ROLE = "bad_input_owner"
PG_SECRET = "pgSECRET-b4d1nput-Qx7"
HEADER_SECRET = "hdrSECRET-b4d1nput-Zr4"
TRAPS = {132, 134, 139, -4, -5, -6, -7, -8, -11}   # SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV


class Case:
    """One bad input and what the contract expects of it.

    rc: allowed exit codes; moves: True (every pipeline's watermark must move), False (none may),
    None (either); points: True (must arrive), False (none may be acknowledged), None (either);
    contains: text the first error line must contain (case-insensitive; "{yaml}" is the broken
    pipeline file's name); secrets: extra strings no output may contain; second_run: run again
    after an exit 0, which must send nothing."""

    def __init__(self, name, group, short, *, rc=(2,), moves=False, points=False, contains=(), secrets=(),
                 env=None, rows=None, yaml=None, args=("run",), otlp=None, ch=None, prep_run=False,
                 second_run=False, bound=60, quick=False):
        self.name, self.group, self.short = name, group, short
        self.rc, self.moves, self.points = tuple(rc), moves, points
        self.contains, self.secrets = list(contains), list(secrets)
        self.env, self.rows, self.yaml, self.args = env or {}, rows, yaml, list(args)
        self.otlp, self.ch, self.prep_run, self.second_run = otlp, ch, prep_run, second_run
        self.bound, self.quick = bound, quick


# ----------------------------------------------------------------------------------------------
# hostile tenant rows: (column overrides) applied to copies of generated rows, inserted as TSV bytes

def tenant(name, short, mutate, quick=False, bound=90):
    return Case(name, "tenant data", short, rc=(0,), moves=True, points=True, rows=mutate, second_run=True,
                bound=bound, quick=quick)


def m_models(values):
    def mutate(rows, rng):
        out = []
        for i, v in enumerate(values):
            r = dict(rows[i % len(rows)])
            r["ai_model"] = v
            out.append(r)
        return out
    return mutate


def m_cardinality(rows, rng):
    base = rows[0]
    t = base["created_at"][:17] + "30.000"       # all in the bucket of the first row
    out = []
    for i in range(5000):
        r = dict(base)
        r["created_at"] = t
        r["ai_model"] = "m-" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12)) + f"-{i}"
        out.append(r)
    return out


def m_workspaces(rows, rng):
    out = []
    for i, ws in enumerate(["", None, "NULL", "null", "\\N"]):
        r = dict(rows[i % len(rows)])
        r["workspace_slug"] = ws      # None is written as \N (ClickHouse stores the default '')
        out.append(r)
    return out


def cases():
    ch_secret = os.environ.get("TEST_CLICKHOUSE_PASSWORD", "otel-bridge-test")
    future = datetime.fromtimestamp(time.time() + 86400 * 2, timezone.utc).strftime("%Y-%m-%dT00:00:00Z")
    env2 = dict(rc=(2,), moves=False, points=False)
    cs = [
        # -- tenant data: any bytes, any length, any number of distinct values -----------------
        tenant("t-nul", "ai_model with NUL", m_models([b"gpt\x00-4o", b"\x00", b"a\x00b\x00c"]), quick=True),
        tenant("t-10kb-model", "10 kB ai_model", m_models([b"x" * 10_240, ("\u00e9" * 5_000).encode()])),
        tenant("t-invalid-utf8", "ai_model invalid UTF-8", m_models([b"\xff\xfe\xfd", b"gpt-\xc3\x28", b"\xed\xa0\x80",
                                                                     b"\xf8\x88\x80\x80\x80"]), quick=True),
        tenant("t-newline-ansi", "ai_model \\n, \\r, ANSI", m_models([b"line1\nline2", b"\x1b[31mred\x1b[0m", b"cr\rlf\r\n",
                                                                     b"tab\there"])),
        tenant("t-cardinality", "5000 models in 1 bucket", m_cardinality, quick=True, bound=180),
        tenant("t-workspace-empty", "workspace '' / \\N / 'NULL'", m_workspaces),
        tenant("t-template-text", "ai_model {window_end} ' ` ;", m_models([b"{window_end:DateTime64(3, 'UTC')}", b"'; DROP TABLE x; --",
                                                                         b"`x`", b"\\", b"%s%n%x"])),
        # -- operator typos: environment --------------------------------------------------------
        Case("e-start-1500", "environment", "BRIDGE_START_AT=1500-01-01", env={"BRIDGE_START_AT": "1500-01-01T00:00:00Z"},
             contains=["BRIDGE_START_AT"], quick=True, **env2),
        Case("e-start-3000", "environment", "BRIDGE_START_AT=3000-01-01", env={"BRIDGE_START_AT": "3000-01-01T00:00:00Z"},
             contains=["BRIDGE_START_AT"], **env2),
        Case("e-start-not-a-date", "environment", "BRIDGE_START_AT=not-a-date", env={"BRIDGE_START_AT": "not-a-date"},
             contains=["BRIDGE_START_AT"], **env2),
        Case("e-start-future", "environment", f"BRIDGE_START_AT={future[:10]}", env={"BRIDGE_START_AT": future},
             contains=["BRIDGE_START_AT"], **env2),
        Case("e-timeout-1e20", "environment", "OTLP_TIMEOUT=1e20", env={"OTEL_EXPORTER_OTLP_TIMEOUT": "1e20"},
             contains=["OTEL_EXPORTER_OTLP_TIMEOUT"], quick=True, **env2),
        Case("e-timeout-0.1", "environment", "OTLP_TIMEOUT=0.1", env={"OTEL_EXPORTER_OTLP_TIMEOUT": "0.1"},
             contains=["OTEL_EXPORTER_OTLP_TIMEOUT"], **env2),
        Case("e-timeout-neg", "environment", "OTLP_TIMEOUT=-5", env={"OTEL_EXPORTER_OTLP_TIMEOUT": "-5"},
             contains=["OTEL_EXPORTER_OTLP_TIMEOUT"], **env2),
        Case("e-max-elapsed-1e300", "environment", "BRIDGE_EXPORT_MAX_ELAPSED=1e300",
             env={"BRIDGE_EXPORT_MAX_ELAPSED": "1e300"}, contains=["BRIDGE_EXPORT_MAX_ELAPSED"], quick=True, **env2),
        Case("e-headers-crlf", "environment", "OTLP_HEADERS with %0D%0A",
             env={"OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{HEADER_SECRET}%0D%0AX-Injected:%20yes"},
             contains=["OTEL_EXPORTER_OTLP_HEADERS"], quick=True, **env2),
        Case("e-headers-nul", "environment", "OTLP_HEADERS with %00",
             env={"OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{HEADER_SECRET}%00tail"},
             contains=["OTEL_EXPORTER_OTLP_HEADERS"], **env2),
        Case("e-headers-name-space", "environment", "OTLP_HEADERS name 'x api'",
             env={"OTEL_EXPORTER_OTLP_HEADERS": f"x api={HEADER_SECRET}"},
             contains=["OTEL_EXPORTER_OTLP_HEADERS"], **env2),
        Case("e-headers-content-type", "environment", "OTLP_HEADERS Content-Type=x",
             env={"OTEL_EXPORTER_OTLP_HEADERS": "Content-Type=x"}, contains=["OTEL_EXPORTER_OTLP_HEADERS"], **env2),
        Case("e-ch-password-newline", "environment", "CLICKHOUSE_PASSWORD ends in \\n",
             env={"CLICKHOUSE_PASSWORD": ch_secret + "\n"}, rc=(0, 2), moves=None, points=None, quick=True),
        Case("e-ch-url-no-scheme", "environment", "CLICKHOUSE_URL=user:pw@host:8123",
             env={"CLICKHOUSE_URL": "bridge:secretpwNOSCHEME@127.0.0.1:8123"}, contains=["CLICKHOUSE_URL"],
             secrets=["secretpwNOSCHEME"], quick=True, **env2),
        Case("e-ch-url-pw-specials", "environment", "CLICKHOUSE_URL pw with / ? #",
             env={"CLICKHOUSE_URL": "http://bridge:pwSEK/RIT?x#TAILSEKRIT@127.0.0.1:8123"}, contains=["CLICKHOUSE_URL"],
             secrets=["pwSEK", "TAILSEKRIT"], **env2),
        Case("e-pg-url-malformed", "environment", "CHECKPOINT_DATABASE_URL malformed",
             env={"CHECKPOINT_DATABASE_URL": f"postgres//{PG_ROLE}:{PG_SECRET}@127.0.0.1:5432:5433/x"},
             contains=["CHECKPOINT_DATABASE_URL"], quick=True, **env2),
        Case("e-push-maybe", "environment", "OTEL_PUSH_ENABLED=maybe", env={"OTEL_PUSH_ENABLED": "maybe"},
             contains=["OTEL_PUSH_ENABLED"], **env2),
        # -- operator typos: the pipeline file ---------------------------------------------------
        Case("y-step-huge", "pipeline YAML", "step: 10000000000", yaml=[("  step: 60s ", "  step: 10000000000 ")],
             contains=["{yaml}", "step"], quick=True, **env2),
        Case("y-step-zero", "pipeline YAML", "step: 0", yaml=[("  step: 60s ", "  step: 0 ")],
             contains=["{yaml}", "step"], **env2),
        Case("y-lag-negative", "pipeline YAML", "lag: -1", yaml=[("  lag: 120s ", "  lag: -1 ")],
             contains=["{yaml}", "lag"], **env2),
        Case("y-max-request-bytes-0", "pipeline YAML", "max_request_bytes: 0",
             yaml=[("  max_request_bytes: 4194304 ", "  max_request_bytes: 0 ")], contains=["{yaml}", "max_request_bytes"],
             **env2),
        Case("y-bucket-column-sql", "pipeline YAML", 'bucket_column: "x`; DROP TABLE"',
             yaml=[("  - name: requests\n", "  - name: requests\n    bucket_column: \"x`; DROP TABLE\"\n")],
             contains=["{yaml}", "bucket_column"], quick=True, **env2),
        Case("y-unknown-key", "pipeline YAML", "max_bucket_per_query (typo)",
             yaml=[("  - name: requests\n", "  - name: requests\n    max_bucket_per_query: 10\n")],
             contains=["{yaml}", "max_bucket_per_query"], **env2),
        Case("y-unknown-key-validate", "pipeline YAML", "validate: metrik_name (typo)", args=["validate"],
             yaml=[("      - metric_name: portkey.cost\n", "      - metric_name: portkey.cost\n        metrik_name: x\n")],
             contains=["{yaml}", "metrik_name"], **env2),
        Case("y-missing-query", "pipeline YAML", "query: nope.sql", yaml=[("../queries/cost.sql", "../queries/nope.sql")],
             contains=["{yaml}", "nope.sql"], **env2),
        Case("y-histogram-no-bounds", "pipeline YAML", "explicit_bounds: []",
             yaml=[("explicit_bounds: *token_bounds", "explicit_bounds: []")],
             contains=["{yaml}", "explicit_bounds"], quick=True, **env2),
        # -- operator typos: the command line ----------------------------------------------------
        Case("c-rewind-not-a-date", "command line", "rewind --to not-a-date",
             args=["checkpoints", "rewind", "requests", "--to", "not-a-date", "--yes"], prep_run=True,
             contains=["--to"], **env2),
        Case("c-rewind-unknown", "command line", "rewind nosuchpipeline",
             args=["checkpoints", "rewind", "nosuchpipeline", "--to", "{start}", "--yes"], prep_run=True,
             contains=["nosuchpipeline"], **env2),
        Case("c-rewind-1500", "command line", "rewind --to 1500-01-01",
             args=["checkpoints", "rewind", "requests", "--to", "1500-01-01T00:00:00Z", "--yes"], prep_run=True,
             contains=["--to"], **env2),
        Case("c-rewind-forward", "command line", "rewind forward, no --skip-ahead",
             args=["checkpoints", "rewind", "requests", "--to", "{future}", "--yes"], prep_run=True,
             contains=["skip-ahead"], quick=True, **env2),
        # -- hostile answers ---------------------------------------------------------------------
        Case("o-html-200", "hostile answer", "OTLP 200 text/html login page",
             otlp={"status": 200, "content_type": "text/html; charset=utf-8",
                   "raw_body": "<!DOCTYPE html><html><body><form action=/login>Sign in</form></body></html>"},
             rc=(1,), moves=False, points=False, quick=True),
        Case("o-retry-after-huge", "hostile answer", "OTLP 503 Retry-After: 99999999999999999",
             otlp={"status": 503, "retry_after": "99999999999999999"}, env={"BRIDGE_EXPORT_MAX_ELAPSED": "3"},
             rc=(1,), moves=False, points=False, bound=30, quick=True),
        # 4 pipelines, a retry budget of 10 s: done within the budget plus 10 s (room for a busy
        # machine), not 4 x 10 s (a budget per pipeline, full jitter: usually 25-35 s in all)
        Case("o-receiver-down", "hostile answer", "OTLP down, 4 pipelines, budget 10 s",
             otlp="closed", env={"BRIDGE_EXPORT_MAX_ELAPSED": "10"}, rc=(1,), moves=False, points=False, bound=20,
             quick=True),
        Case("ch-200-html", "hostile answer", "ClickHouse 200 text/html, no X-ClickHouse-*",
             ch={"foreign_response": {"status": 200, "headers": {"Content-Type": "text/html"}, "count": 1000,
                                  "body": "<html><body>Please log in</body></html>"}},
             rc=(1,), moves=False, points=False, quick=True),
        Case("ch-302", "hostile answer", "ClickHouse 302 to a login page",
             ch={"foreign_response": {"status": 302, "headers": {"Location": "http://127.0.0.1:9/login"}, "count": 1000,
                                  "body": ""}}, rc=(1,), moves=False, points=False),
        Case("ch-204", "hostile answer", "ClickHouse 204 No Content",
             ch={"foreign_response": {"status": 204, "count": 1000, "body": ""}}, rc=(1,), moves=False, points=False),
        Case("ch-midstream-tagged", "hostile answer", "ClickHouse tagged exception mid-stream",
             ch={"mid_stream_exception": {"after_bytes": 40, "style": "tagged", "code": 395, "message": "boom", "count": 1000}},
             env={"CLICKHOUSE_COMPRESSION": "false"}, rc=(1,), moves=False, points=False),
        Case("ch-midstream-legacy", "hostile answer", "ClickHouse legacy exception mid-stream",
             ch={"mid_stream_exception": {"after_bytes": 40, "style": "legacy", "code": 395, "message": "boom", "count": 1000}},
             env={"CLICKHOUSE_COMPRESSION": "false"}, rc=(1,), moves=False, points=False, quick=True),
    ]
    return cs


# ----------------------------------------------------------------------------------------------

def tsv_field(v):
    if v is None:
        return b"\\N"
    if isinstance(v, str):
        v = v.encode()
    elif not isinstance(v, bytes):
        v = str(v).encode()
    return (v.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n")
            .replace(b"\r", b"\\r").replace(b"\x00", b"\\0"))


class Runner:
    """What every case shares: the services, the binary, the secrets, the rows generator."""

    def __init__(self, svc, binary, log_dir):
        self.svc, self.binary = svc, binary
        self.ch_user = os.environ.get("TEST_CLICKHOUSE_USER", "default")
        self.ch_password = os.environ.get("TEST_CLICKHOUSE_PASSWORD", "")
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix="bad-input-yaml."))
        self.gen = gen_rows()
        self.columns = self.gen.COLUMNS
        self.secrets = [PG_SECRET, HEADER_SECRET] + ([self.ch_password] if len(self.ch_password) >= 6 else [])

    def preflight(self):
        """The role whose password is one of the secrets, owner of every case's Postgres database."""
        self.svc.psql(f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PG_ROLE}') THEN "
                      f"CREATE ROLE {PG_ROLE} LOGIN PASSWORD '{PG_SECRET}'; END IF; END$$")
        self.svc.psql(f"ALTER ROLE {PG_ROLE} LOGIN PASSWORD '{PG_SECRET}'")

    # -- per case --------------------------------------------------------------------------
    def setup(self, case, db):
        now = int(time.time())
        end = (now // STEP) * STEP - 5 * STEP
        start = end - MINUTES * STEP
        svc = self.svc
        svc.ch(f"CREATE DATABASE IF NOT EXISTS `{db}`")
        svc.ch(f"CREATE TABLE `{db}`.generations ({self.columns}\n) ENGINE = MergeTree ORDER BY created_at")
        rng = random.Random(f"bad-input:{case.name}")
        s_dt = datetime.fromtimestamp(start, timezone.utc)
        e_dt = datetime.fromtimestamp(end, timezone.utc)
        rows = list(self.gen.rows(s_dt, e_dt, rng.randrange(1 << 30), 20))
        if case.rows:
            rows += case.rows(rows, rng)
        cols = [c.split()[0] for c in self.columns.strip().rstrip(",").split(",\n")]
        body = b"".join(b"\t".join(tsv_field(r.get(c.strip().strip("`"))) for c in cols) + b"\n" for r in rows)
        svc.ch(f"INSERT INTO `{db}`.generations ({', '.join(c.strip() for c in cols)}) FORMAT TabSeparated", body)
        svc.psql(f'CREATE DATABASE "{db}" OWNER {PG_ROLE}')
        return start, end, len(rows)

    def pg_url(self, db):
        u = urllib.parse.urlsplit(self.svc.pg_url)
        host = u.hostname + (f":{u.port}" if u.port else "")
        return f"postgresql://{PG_ROLE}:{PG_SECRET}@{host}/{db}"

    def env(self, case, db, start):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CLICKHOUSE_", "BRIDGE_", "CHECKPOINT_"))}
        env.update({
            "CLICKHOUSE_URL": self.svc.ch_url, "CLICKHOUSE_USER": self.ch_user, "CLICKHOUSE_PASSWORD": self.ch_password,
            "CLICKHOUSE_DATABASE": db, "CHECKPOINT_DATABASE_URL": self.pg_url(db), "OTEL_PUSH_ENABLED": "true",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{self.svc.otlp_url}/s/{db}/v1/metrics",
            "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{HEADER_SECRET}",
            "BRIDGE_CONFIG": str(CONFIG), "BRIDGE_START_AT": iso(start), "BRIDGE_EXPORT_MAX_ELAPSED": "10",
            "LOG_LEVEL": "info",
        })
        return env

    def broken_yaml(self, case, db):
        text = CONFIG.read_text()
        for old, new in case.yaml:
            if old not in text:
                raise SuiteError(f"{case.name}: {old!r} is not in {CONFIG} any more: update the case")
            text = text.replace(old, new, 1)
        text = text.replace("../queries/", str(ROOT / "queries") + "/")   # the copy lives elsewhere
        path = self.tmp / f"bad-{case.name}.yaml"
        path.write_text(text)
        return path

    def watermarks(self, db):
        out = self.svc.psql("SELECT coalesce(json_object_agg(pipeline, extract(epoch from watermark)::bigint), '{}') "
                            "FROM otel_bridge.checkpoints", db=db, check=False)
        return json.loads(out) if out else {}

    def stored_errors(self, db):
        out = []
        for sql in ("SELECT coalesce(string_agg(error, E'\\n'), '') FROM otel_bridge.runs",
                    "SELECT coalesce(string_agg(last_error, E'\\n'), '') FROM otel_bridge.checkpoints"):
            r = self.svc.psql(sql, db=db, check=False)
            if r:
                out.append(r)
        return "\n".join(out)

    def acked_points(self, db):
        """(rollup points acknowledged by the receiver, rollup export attempts) in the case's scope;
        the self-telemetry requests are left out."""
        records = [r for r in self.svc.otlp_records(scope=f"/s/{db}") if not receiver_points.is_self_telemetry(r)]
        n = sum(1 for p in receiver_points.points(records) if p.accepted)
        attempts = len(records)
        return n, attempts

    def spawn(self, args, env, log_base, bound):
        t0 = time.time()
        with open(f"{log_base}.out", "wb") as out, open(f"{log_base}.err", "wb") as err:
            p = subprocess.Popen([self.binary] + args, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                 cwd=str(ROOT))
            hung = False
            try:
                rc = p.wait(timeout=bound)
            except subprocess.TimeoutExpired:
                p.kill()
                rc, hung = p.wait(), True
        return rc, hung, time.time() - t0, Path(f"{log_base}.out").read_bytes(), Path(f"{log_base}.err").read_bytes()

    def run_case(self, case):
        db = f"bad_{case.name.replace('-', '_').replace('.', '_')}_{os.urandom(3).hex()}"
        self.svc.scope = db
        res = {"case": case.name, "group": case.group, "input": case.short, "rc": None, "saw": "", "moved": "-",
               "points": "-", "ok": False, "problems": [], "took": 0.0, "db": db}
        problems = res["problems"]
        start, end, nrows = self.setup(case, db)
        env = self.env(case, db, start)
        logs = self.log_dir / db
        logs.mkdir(parents=True, exist_ok=True)
        yaml_name = ""
        if case.prep_run:
            rc, hung, _, _, err = self.spawn(["run"], env, logs / "prep", 120)
            if rc != 0:
                raise SuiteError(f"{case.name}: the preparing run exited {rc}: {err.decode(errors='replace')[-300:]}")
        if case.yaml:
            path = self.broken_yaml(case, db)
            env["BRIDGE_CONFIG"] = str(path)
            yaml_name = path.name
        env.update(case.env)
        closed = None
        if case.otlp == "closed":
            closed = ClosedPort()
            env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] = f"http://127.0.0.1:{closed.__enter__()}/v1/metrics"
        elif case.otlp:
            self.svc.otlp_script([], case.otlp)
        if case.ch:
            self.svc.ch_control(case.ch)
        secrets = self.secrets + case.secrets
        before = self.watermarks(db)
        points0, _ = self.acked_points(db)
        future = iso(end + 7 * 86400)
        args = [a.replace("{start}", iso(start)).replace("{future}", future) for a in case.args]
        try:
            rc, hung, took, out, err = self.spawn(args, env, logs / "case", case.bound)
        finally:
            if closed:
                closed.__exit__(None, None, None)
            if case.ch:
                self.svc.ch_reset()
            if case.otlp and case.otlp != "closed":
                self.svc.otlp_script()
        res["rc"], res["took"] = rc, took
        text_out, text_err = out.decode(errors="replace"), err.decode(errors="replace")
        # validate prints each failed check as a `FAIL check: …` line on stdout.
        lines = [l for l in text_err.splitlines() if l.strip()] + [l for l in text_out.splitlines() if l.startswith("FAIL ")]
        first = first_error_line(lines)
        res["saw"] = first
        # -- the checks every case makes
        if hung:
            problems.append(f"did not finish within {case.bound} s (killed)")
        elif rc in TRAPS or "Fatal error" in text_err:
            problems.append(f"trapped (exit {rc}): {next((l for l in lines if 'Fatal error' in l), '')[:200]}")
        elif rc not in case.rc:
            problems.append(f"exit {rc}, expected {' or '.join(map(str, case.rc))}")
        for want in case.contains:
            want = want.replace("{yaml}", yaml_name)
            if want.lower() not in first.lower():
                problems.append(f"the first error line does not name {want!r}")
        stored = self.stored_errors(db)
        for sec in secrets:
            for where, text in (("stdout", text_out), ("stderr", text_err), ("otel_bridge runs/checkpoints", stored)):
                if sec and sec in text:
                    problems.append(f"a secret ({sec[:3]}…) appears in {where}")
        after = self.watermarks(db)
        moved = sorted(p for p, w in after.items() if w != before.get(p, start))
        res["moved"] = ("yes" if moved else "no") + (f" ({len(moved)}/{len(after)})" if moved and len(moved) < len(after) else "")
        if case.moves is True and sorted(after) != sorted(PIPELINES):
            problems.append(f"checkpoints for {sorted(after)}, expected all of {PIPELINES}")
        if case.moves is True and any(after.get(p, 0) < end for p in PIPELINES):
            problems.append("a watermark did not move past the data: "
                            + ", ".join(f"{p}={iso(after[p]) if after.get(p) else None}" for p in PIPELINES))
        if case.moves is False and moved:
            problems.append(f"watermark moved: {', '.join(moved)}")
        points, attempts = self.acked_points(db)
        points -= points0
        res["points"] = str(points)
        if case.points is True and points == 0:
            problems.append("no point was acknowledged")
        if case.points is False and points:
            problems.append(f"{points} point(s) acknowledged")
        if case.second_run and rc == 0 and not hung:
            rc2, hung2, _, _, err2 = self.spawn(["run"], env, logs / "second", case.bound)
            points2, _ = self.acked_points(db)
            points2 -= points0 + points
            res["points"] += f", then {points2}"
            if rc2 != 0:
                problems.append(f"the second run exited {rc2}{' (hung)' if hung2 else ''}: "
                                f"{err2.decode(errors='replace').strip().splitlines()[-1:]}")
            elif points2:
                problems.append(f"the second run sent {points2} point(s) again")
        res["ok"] = not problems
        return res


LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\dT[\d:]+[+-]\d{4} (\w+) ")


def first_error_line(lines):
    """What the operator sees first: a runtime trap, else the first error of stderr (the command's own
    `otel-bridge: …` line, a log line at level error/critical), else the first pipeline summary,
    else the first line. Log lines lose their timestamp."""
    def is_error(l):
        m = LOG_PREFIX.match(l)
        if m:
            return m.group(1) in ("error", "critical")
        return bool(re.match(r"(otel-bridge:|FAIL |Error:|error:|\*\*\*|.*Fatal error)", l))
    line = next((l for l in lines if re.search(r"Fatal error|runtime failure", l)), None) \
        or next((l for l in lines if is_error(l)), None) \
        or next((l for l in lines if re.match(r"[\w.-]+: (ok|failed|skipped|nothing)", l)), None) \
        or (lines[0] if lines else "")
    return LOG_PREFIX.sub(lambda m: m.group(1) + " ", line)


def short(s, n):
    s = s.replace("\t", " ")
    s = "".join(c if c.isprintable() else "?" for c in s)
    s = s.replace("|", "\\|")
    return s if len(s) <= n else s[: n - 1] + "…"


def table(results, config=None):
    head = ["case", "input", "exit", "operator saw (first error line)", "watermark moved", "points sent", "verdict"]
    rows = [head, ["---"] * len(head)]
    for r in results:
        rows.append([r["case"], short(r["input"], 40), str(r["rc"]), short(r["saw"], 90), r["moved"], r["points"],
                     "ok" if r["ok"] else "FAIL"])
    failed = [r for r in results if not r["ok"]]
    return (markdown_table(rows) + f"\n\nbad-input suite: {len(results) - len(failed)}/{len(results)} cases held "
            f"in {sum(r['wall'] for r in results):.0f} s; databases of failed cases kept: "
            f"{', '.join(r['db'] for r in failed) or '-'}")


# ----------------------------------------------------------------------------------------------
# the tests

@pytest.fixture(scope="session")
def runner(services, binary, log_root):
    r = Runner(services, binary, log_root / "bad-input-suite")
    try:
        r.preflight()
        return r
    except (SuiteError, OSError, subprocess.SubprocessError) as e:
        problem = str(e)
    pytest.fail(f"the bad-input suite cannot run: {problem}", pytrace=False)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=[pytest.mark.quick] if c.quick else [])
                                  for c in cases()])
def test_bad_input(case, runner, keep, result_table):
    """One bad input through the real binary, and every check `Runner.run_case` makes."""
    results = result_table("bad-input suite: hostile data, operator typos, hostile answers", table)
    t0 = time.time()
    try:
        r = runner.run_case(case)
    except (SuiteError, OSError, subprocess.SubprocessError) as e:
        r = {"case": case.name, "group": case.group, "input": case.short, "rc": None, "saw": "", "moved": "-",
             "points": "-", "ok": False, "problems": [f"could not run: {e}"], "took": 0.0, "db": runner.svc.scope}
    r["wall"] = time.time() - t0
    results.append(r)
    if r["ok"] and not keep:
        try:
            runner.svc.ch(f"DROP DATABASE IF EXISTS `{r['db']}`")
            runner.svc.psql(f'DROP DATABASE IF EXISTS "{r["db"]}" WITH (FORCE)', check=False)
        except SuiteError:
            pass
    if not r["ok"]:
        pytest.fail("\n".join([f"{case.name} ({case.short}): exit {r['rc']}, first error line: {r['saw']!r}"]
                               + [f"  - {p}" for p in r["problems"]]
                               + [f"  logs {runner.log_dir / r['db']}; kept ClickHouse and Postgres database {r['db']}"]),
                    pytrace=False)
