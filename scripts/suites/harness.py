"""What the fault suite (test_faults.py) and the bad-input suite (test_bad_input.py) share: the test
stack's services as the suites drive them (ClickHouse over HTTP with its /__control faults, Postgres
through psql, the OTLP receiver's /__control scripts and records), a port nothing listens on, and the
`generations` rows of scripts/services/gen_rows.py. Stdlib only; no pytest in here.

The stack is the one of scripts/stack.sh (TEST_POSTGRES_URL, TEST_CLICKHOUSE_URL, TEST_OTLP_URL);
`Services.from_environment()` reads it. See docs/fault-suite.md and docs/bad-input-suite.md.
"""
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "scripts" / "services"))
import receiver_points  # noqa: E402,F401  (the receiver's records as points: scripts/services/receiver_points.py)


class SuiteError(Exception):
    """The suite itself cannot go on (service down, bad setup): the case could not run."""


# ----------------------------------------------------------------------------------------------
# services

def http(method, url, body=None, timeout=60, headers=None):
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if isinstance(body, (dict, list)):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Services:
    def __init__(self, pg_url, ch_url, otlp_url):
        self.pg_url, self.ch_url, self.otlp_url = pg_url, ch_url.rstrip("/"), otlp_url.rstrip("/")
        self._pg_data_dir = None

    @classmethod
    def from_environment(cls):
        """The stack of scripts/stack.sh, answering: SuiteError when it is not set or does not answer."""
        env = {k: os.environ.get(k) for k in ("TEST_POSTGRES_URL", "TEST_CLICKHOUSE_URL", "TEST_OTLP_URL")}
        missing = [k for k, v in env.items() if not v]
        if missing:
            raise SuiteError(f"{', '.join(missing)} not set: start the stack (scripts/stack.sh up; source .stack/env)")
        if shutil.which("psql") is None:
            raise SuiteError("psql is not installed")
        svc = cls(env["TEST_POSTGRES_URL"], env["TEST_CLICKHOUSE_URL"], env["TEST_OTLP_URL"])
        try:
            svc.ch("SELECT 1")
            svc.psql("SELECT 1")
            svc.otlp_script()
        except (OSError, subprocess.SubprocessError) as e:
            raise SuiteError(f"the stack does not answer: {e}")
        svc.ch_reset()
        return svc

    # ClickHouse (the test endpoint over chDB)
    def ch(self, sql, body=b""):
        url = self.ch_url + "/?" + urllib.parse.urlencode({"query": sql})
        status, out = http("POST", url, body)
        if status != 200:
            raise SuiteError(f"ClickHouse {status}: {out.decode(errors='replace').strip()[:500]} (query: {sql[:200]})")
        return out.decode()

    # Faults and scripts are scoped to the running scenario (its database, and the receiver path
    # prefix /s/<database>), so they never hit other users of the same services. (postgres-restart
    # still restarts the shared cluster: run the suite on its own, as scripts/test.sh does.)
    scope = ""

    def ch_control(self, faults):
        status, out = http("POST", self.ch_url + "/__control", dict(faults, database=self.scope))
        if status != 200:
            raise SuiteError(f"ClickHouse /__control {status}: {out[:300]!r}")

    def ch_reset(self):
        http("POST", self.ch_url + "/__control", {"database": self.scope, "mid_stream_exception": None,
                                                 "fail_status": None, "delay_seconds": None, "foreign_response": None,
                                                 "exception_tag_header": True})

    def otlp_scope(self):
        return f"/s/{self.scope}" if self.scope else ""

    # Postgres (psql)
    def pg_url_for(self, db):
        u = urllib.parse.urlsplit(self.pg_url)
        return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + db, u.query, u.fragment))

    def psql(self, sql, db=None, check=True, timeout=30):
        url = self.pg_url_for(db) if db else self.pg_url
        p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise SuiteError(f"psql failed ({p.returncode}): {p.stderr.strip()[:500]} (sql: {sql[:200]})")
        return p.stdout.strip() if p.returncode == 0 else None

    def pg_data_dir(self):
        if self._pg_data_dir is None:
            d = os.environ.get("STACK_POSTGRES_DIR")
            if d and Path(d, "data", "PG_VERSION").exists():
                self._pg_data_dir = str(Path(d, "data"))
            else:
                self._pg_data_dir = self.psql("SHOW data_directory")
        return self._pg_data_dir

    def pg_restart(self):
        """Restarts the cluster (`pg_ctl restart -m fast`) with the options it was started with."""
        data = self.pg_data_dir()
        bindirs = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        pg_ctl = str(bindirs[-1]) if bindirs else (shutil.which("pg_ctl") or "pg_ctl")
        log = str(Path(data).parent / "postgres.log")
        cmd = [pg_ctl, "-D", data, "-l", log, "-m", "fast", "-w", "-t", "60", "restart"]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=90)
        if p.returncode != 0:
            raise SuiteError(f"pg_ctl restart failed: {p.stdout.strip()[:500]}")
        for _ in range(100):
            if self.psql("SELECT 1", check=False) == "1":
                return
            time.sleep(0.1)
        raise SuiteError("Postgres did not come back after the restart")

    # OTLP receiver
    def otlp_script(self, script=None, default=None):
        status, out = http("POST", self.otlp_url + "/__control",
                           {"scope": self.otlp_scope(), "script": script or [], "default": default})
        if status != 200:
            raise SuiteError(f"OTLP /__control {status}: {out[:300]!r}")

    def otlp_progress(self):
        """The receiver's counters for this scope: received, accepted, inflight, held."""
        status, out = http("GET", self.otlp_url + "/__control?" + urllib.parse.urlencode({"scope": self.otlp_scope()}))
        if status != 200:
            raise SuiteError(f"OTLP /__control {status}: {out[:300]!r}")
        return json.loads(out)

    def otlp_release(self):
        """Lets the exports held by a `hold` script entry of this scope be answered."""
        status, out = http("POST", self.otlp_url + "/__control", {"scope": self.otlp_scope(), "release": True})
        if status != 200:
            raise SuiteError(f"OTLP /__control {status}: {out[:300]!r}")

    def otlp_records(self, scope=None):
        try:
            return receiver_points.fetch(self.otlp_url, scope=scope)
        except receiver_points.ReceiverError as e:
            raise SuiteError(str(e)) from e


class ClosedPort:
    """A port nothing listens on, for as long as the `with` block lasts: the socket is bound (so no
    other process can take the port) but never listens, so a connect is refused."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        return self.port

    def __exit__(self, *exc):
        self.sock.close()


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def gen_rows():
    """scripts/services/gen_rows.py as a module: its `COLUMNS` (the `generations` table) and `rows()`."""
    spec = importlib.util.spec_from_file_location("gen_rows", ROOT / "scripts" / "services" / "gen_rows.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def markdown_table(rows):
    """`rows` (lists of strings; a cell "---" is the header rule) as an aligned Markdown table."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("| " + " | ".join(c.ljust(widths[i]) if c != "---" else "-" * widths[i]
                                       for i, c in enumerate(row)) + " |" for row in rows)
