"""Helpers shared by the end-to-end benchmarks (scripts/bench_traces.py, scripts/bench_e2e.py).

The local stack's addresses (.stack/env), a ClickHouse HTTP call, a fresh Postgres database for the
checkpoints (optionally behind a proxy that adds network latency), an acknowledge-only OTLP/HTTP endpoint (reads the body, answers 200 + an empty Export*
response, never decodes) and running a child with its own peak RSS (/usr/bin/time, not RUSAGE_CHILDREN, so
curl or psql run earlier, or this process's own size, cannot be mistaken for it).
"""
import os
import subprocess
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def stack_env():
    env = {}
    path = ROOT / ".stack" / "env"
    if not path.exists():
        raise SystemExit("bench: the local stack is not up (bash scripts/stack.sh up)")
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            k, _, v = line[len("export "):].partition("=")
            env[k] = v.strip("'\"")
    return env


def process_cpu(pid, children=False):
    """CPU seconds of a process (and of its reaped children: a Postgres postmaster's backends)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


class StackCPU:
    """CPU seconds the stack's other processes spend while something runs: the ClickHouse endpoint,
    Postgres (the postmaster and its reaped backends) and this script (the acknowledge-only OTLP
    endpoint's threads). On a 2-core machine their sum with the bridge's bounds the wall time."""

    def __init__(self, stack):
        self.pids = {"endpoint": (stack.get("STACK_CLICKHOUSE_PID"), False)}
        pg = Path(stack.get("STACK_POSTGRES_DIR", "/nonexistent")) / "data" / "postmaster.pid"
        if pg.exists():
            self.pids["postgres"] = (pg.read_text().split()[0], True)

    def __enter__(self):
        self.start = {k: process_cpu(pid, c) for k, (pid, c) in self.pids.items() if pid}
        self.receiver = time.process_time()
        return self

    def __exit__(self, *exc):
        self.receiver_end = time.process_time()
        time.sleep(0.3)  # the bridge's Postgres backend ends after the bridge, then the postmaster reaps it
        self.seconds = {k: process_cpu(self.pids[k][0], self.pids[k][1]) - v for k, v in self.start.items()}
        self.seconds["receiver"] = self.receiver_end - self.receiver
        return False

    def __str__(self):
        return ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items())


def find_binary(explicit=None):
    if explicit:
        return explicit
    return next((str(p) for p in [ROOT / ".build/release/otel-bridge", ROOT / ".build/debug/otel-bridge"] if p.exists()), None)


class Ack(BaseHTTPRequestHandler):
    """OTLP/HTTP endpoint that acknowledges without decoding; counts requests and bytes."""
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as ClickHouse's HTTP server (Poco's TCPServer) and the Collector (Go) set on
    # every connection: without it a response written in pieces waits for the client's delayed
    # ACK, 40 ms a request, which no real server adds.
    disable_nagle_algorithm = True
    requests = 0
    bytes = 0
    lock = threading.Lock()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        with Ack.lock:
            Ack.requests += 1
            Ack.bytes += len(body)
        json = "json" in (self.headers.get("Content-Type") or "")
        out = b"{}" if json else b""
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if json else "application/x-protobuf")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass

    @classmethod
    def reset(cls):
        with cls.lock:
            cls.requests = cls.bytes = 0


def ack_server():
    """Starts the acknowledge-only endpoint on a free port; returns (server, base URL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ack)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


class LatencyProxy:
    """A TCP proxy to `upstream` (host, port) that holds every chunk `delay` seconds in each
    direction before passing it on, in order: a server a network hop away (a round trip costs
    2 x delay more) on the loopback. Listens on 127.0.0.1:`port`; `close()` ends it."""

    def __init__(self, upstream, delay):
        import queue
        import socket
        self._queue, self._socket = queue, socket
        self.upstream, self.delay = upstream, delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = self._socket.create_connection(self.upstream)
            for s in (client, server):
                s.setsockopt(self._socket.IPPROTO_TCP, self._socket.TCP_NODELAY, 1)
            self._pipe(client, server)
            self._pipe(server, client)

    def _pipe(self, src, dst):
        held = self._queue.Queue()

        def read():
            while True:
                try:
                    data = src.recv(65536)
                except OSError:
                    data = b""
                held.put((time.monotonic() + self.delay, data))
                if not data:
                    return

        def write():
            while True:
                due, data = held.get()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                try:
                    if not data:
                        dst.shutdown(self._socket.SHUT_WR)
                        return
                    dst.sendall(data)
                except OSError:
                    return

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=write, daemon=True).start()

    def url(self, pg_url):
        """`pg_url` (postgresql://user:pw@host:port/db) through this proxy."""
        head, _, tail = pg_url.partition("@")
        _, _, rest = tail.partition("/")
        return f"{head}@127.0.0.1:{self.port}/{rest}"

    def close(self):
        self.listener.close()


def ch(url, sql):
    req = urllib.request.Request(url.rstrip("/") + "/", data=sql.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=3600) as r:
        return r.read().decode()


def pg_create(pg_url, name):
    """Creates database `name` next to the one in pg_url; returns its URL."""
    subprocess.run(["psql", pg_url, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    return pg_url.rsplit("/", 1)[0] + "/" + name  # postgresql://user:pw@host:port/<db>


def pg_drop(pg_url, name):
    subprocess.run(["psql", pg_url, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=False,
                   capture_output=True)


def run_measured(argv, env=None, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE):
    """Runs argv to completion; returns (returncode, wall seconds, CPU seconds, peak RSS KiB, stderr bytes)."""
    # Peak RSS through /usr/bin/time: Linux carries the exec-ing process's high-water mark into the
    # child's ru_maxrss, so a child of this (large) Python process would report at least our own peak.
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rssf:
        t0 = time.monotonic()
        p = subprocess.Popen(["/usr/bin/time", "-q", "-f", "%M", "-o", rssf.name] + list(argv), env=env,
                             stdout=stdout, stderr=stderr)
        err = p.stderr.read() if stderr == subprocess.PIPE else b""
        _, status, ru = os.wait4(p.pid, 0)
        elapsed = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        rss = int((rssf.read().strip().splitlines() or ["0"])[-1])
    return p.returncode, elapsed, ru.ru_utime + ru.ru_stime, rss, err
