#!/usr/bin/env python3
"""End-to-end self-test of the test services, run by scripts/test.sh before `swift test`.

Usage: source .stack/env && .venv/bin/python scripts/services/selftest.py
Needs TEST_CLICKHOUSE_URL, TEST_OTLP_URL, TEST_POSTGRES_URL (+ TEST_CLICKHOUSE_USER/_PASSWORD).
Checks: ClickHouse ping, gen_rows --create/insert, a parameterised query round trip, 403/516 on a wrong
password, 404/60 on an unknown table, a tagged mid-stream exception; an OTLP protobuf and a gzip'd JSON
export decoded and recorded, a scripted 503 with Retry-After; a Postgres connection through psql.
Leaves the services clean (drops its database, resets faults and records). Exit 1 on the first failure.
"""
import gzip
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as mpb

CH = urllib.parse.urlsplit(os.environ["TEST_CLICKHOUSE_URL"])
OTLP = urllib.parse.urlsplit(os.environ["TEST_OTLP_URL"])
PG = os.environ["TEST_POSTGRES_URL"]
HERE = os.path.dirname(os.path.abspath(__file__))
checks = 0


def check(cond, what, detail=""):
    global checks
    if not cond:
        print(f"selftest: FAILED: {what}\n{detail}", file=sys.stderr)
        sys.exit(1)
    checks += 1


def request(url, method, path, body=None, headers=None):
    c = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def ch(sql, params=None, body=None, user="default", password="", **settings):
    q = {"query": sql, **{f"param_{k}": v for k, v in (params or {}).items()}, **settings}
    h = {"X-ClickHouse-User": user, "X-ClickHouse-Key": password}
    return request(CH, "POST", "/?" + urllib.parse.urlencode(q), body or b"", h)


def clickhouse():
    st, _, body = request(CH, "GET", "/ping")
    check(st == 200 and body == b"Ok.\n", "clickhouse /ping", body)
    request(CH, "POST", "/__control/reset", b"")
    gen = subprocess.run([sys.executable, os.path.join(HERE, "gen_rows.py"), "--clickhouse", CH.geturl(),
                          "--database", "selftest", "--start", "2026-01-01T00:00:00Z",
                          "--end", "2026-01-01T00:10:00Z", "--seed", "1", "--create"],
                         capture_output=True, text=True)
    check(gen.returncode == 0 and gen.stdout.strip().isdigit(), "gen_rows insert", gen.stderr)
    n = int(gen.stdout)
    st, h, body = ch("SELECT count(), {s:String} FROM selftest.generations "
                     "WHERE created_at >= {a:DateTime64(3, 'UTC')} AND ai_org IN {orgs:Array(String)}",
                     {"s": "tab\\there \\'q\\'", "a": "2026-01-01 00:00:00.000",
                      "orgs": "['openai','anthropic','google','mistral']"},
                     user=os.environ.get("TEST_CLICKHOUSE_USER", "default"),
                     password=os.environ.get("TEST_CLICKHOUSE_PASSWORD", ""))
    check(st == 200 and body == f"{n}\ttab\\there \\'q\\'\n".encode(), "parameterised round trip", (st, body))
    check(h.get("x-clickhouse-format") == "TabSeparated" and "x-clickhouse-summary" in h, "response headers", h)
    st, h, body = ch("SELECT 1", user="bridge", password="wrong")
    check(st == 403 and h.get("x-clickhouse-exception-code") == "516" and body.startswith(
        b"Code: 516. DB::Exception: bridge: Authentication failed"), "wrong password -> 403/516", (st, h, body))
    st, h, body = ch("SELECT * FROM selftest.nope")
    check(st == 404 and h.get("x-clickhouse-exception-code") == "60", "unknown table -> 404/60", (st, body))
    request(CH, "POST", "/__control", json.dumps({"mid_stream_exception": {"after_bytes": 6}}).encode())
    st, h, body = ch("SELECT number FROM numbers(100)")
    tag = h.get("x-clickhouse-exception-tag", "")
    msg = (b"Code: 395. DB::Exception: Value passed to 'throwIf' function is non-zero. "
           b"(FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 26.9.0)")
    want = (b"0\n1\n2\n\r\n__exception__\r\n" + tag.encode() + b"\r\n" + msg + b"\n" + str(len(msg)).encode()
            + b" " + tag.encode() + b"\r\n__exception__\r\n")
    check(st == 200 and len(tag) == 16 and body == want, "tagged mid-stream exception", (st, tag, body))
    st, _, body = ch("SELECT count() FROM numbers(100)")
    check(body == b"100\n", "fault used once", body)
    request(CH, "POST", "/__control", json.dumps({"database": "selftest", "foreign_response": {
        "status": 302, "headers": {"Location": "http://127.0.0.1:9/login"}, "body": "", "count": 1}}).encode())
    st, h, body = ch("SELECT 1", database="selftest")
    check(st == 302 and h.get("location") == "http://127.0.0.1:9/login"
          and not any(k.startswith("x-clickhouse") for k in h), "foreign_response 302 without X-ClickHouse-*", (st, h))
    st, _, body = ch("SELECT 1", database="selftest")
    check(st == 200 and body == b"1\n", "foreign_response used once", (st, body))
    ch("DROP DATABASE IF EXISTS selftest")


def otlp():
    request(OTLP, "POST", "/__reset", b"")
    req = mpb.ExportMetricsServiceRequest()
    m = req.resource_metrics.add().scope_metrics.add().metrics.add()
    m.name, m.unit = "portkey.requests", "{request}"
    dp = m.sum.data_points.add()
    dp.as_int, dp.time_unix_nano = 7, 1_700_000_000_000_000_000
    st, h, body = request(OTLP, "POST", "/v1/metrics", req.SerializeToString(),
                          {"Content-Type": "application/x-protobuf", "X-Test": "a"})
    resp = mpb.ExportMetricsServiceResponse()
    resp.ParseFromString(body)
    check(st == 200 and h["content-type"] == "application/x-protobuf", "otlp protobuf export", (st, body))
    request(OTLP, "POST", "/__control", json.dumps({"script": [{"status": 503, "retry_after": "1"}]}).encode())
    js = gzip.compress(b'{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":'
                       b'{"dataPoints":[{"asDouble":1.5}]}}]}]}]}')
    st, h, _ = request(OTLP, "POST", "/v1/metrics", js,
                       {"Content-Type": "application/json", "Content-Encoding": "gzip"})
    check(st == 503 and h.get("retry-after") == "1", "scripted 503 + Retry-After", (st, h))
    _, _, body = request(OTLP, "GET", "/__requests?signal=metrics")
    recs = json.loads(body)
    check(len(recs) == 2 and recs[0]["accepted"] and not recs[1]["accepted"], "records", recs)
    dp0 = recs[0]["body"]["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["sum"]["dataPoints"][0]
    check(dp0 == {"asInt": "7", "timeUnixNano": "1700000000000000000"} and recs[0]["headers"]["x-test"] == "a",
          "decoded protobuf body", recs[0])
    g = recs[1]["body"]["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]
    check(g["gauge"]["dataPoints"][0]["asDouble"] == 1.5 and recs[1]["status"] == 503, "decoded gzip JSON", g)
    # a non-OTLP answer, a receiver-made HTTP-date, a held export and the progress counters (scope /s/st)
    ctl = lambda c: request(OTLP, "POST", "/__control", json.dumps(dict(c, scope="/s/st")).encode())
    pb = {"Content-Type": "application/x-protobuf"}
    ctl({"script": [{"status": 200, "raw_body": "<html>login</html>", "content_type": "text/html"},
                    {"status": 429, "retry_after_date_in": 3}, {"hold": True, "hold_seconds": 20}]})
    st, h, body = request(OTLP, "POST", "/s/st/v1/metrics", req.SerializeToString(), pb)
    check(st == 200 and h["content-type"] == "text/html" and body == b"<html>login</html>", "raw_body answer", (st, h))
    st, h, _ = request(OTLP, "POST", "/s/st/v1/metrics", req.SerializeToString(), pb)
    check(st == 429 and h.get("retry-after", "").endswith(" GMT"), "retry_after_date_in", h)
    held = {}
    t = threading.Thread(target=lambda: held.update(r=request(OTLP, "POST", "/s/st/v1/metrics", req.SerializeToString(), pb)))
    t.start()
    for _ in range(100):
        c = json.loads(request(OTLP, "GET", "/__control?scope=/s/st")[2])
        if c["held"] == 1:
            break
        time.sleep(0.05)
    check(c["held"] == 1 and c["inflight"] == 1 and c["received"] == 2 and c["accepted"] == 0, "held export counted", c)
    ctl({"release": True})
    t.join(10)
    c = json.loads(request(OTLP, "GET", "/__control?scope=/s/st")[2])
    check(held.get("r", (0,))[0] == 200 and c["accepted"] == 1 and c["held"] == 0 and c["inflight"] == 0,
          "released export answered", (held, c))
    _, _, body = request(OTLP, "GET", "/__requests?signal=metrics&scope=/s/st")
    recs = json.loads(body)
    check(recs[0]["raw_answer"] and not recs[0]["accepted"] and recs[2]["t_answered"] >= recs[2]["t_received"],
          "raw answer recorded as not accepted, times recorded", recs)
    request(OTLP, "POST", "/__reset", b"")


def postgres():
    psql = "psql"
    for d in sorted(os.listdir("/usr/lib/postgresql"), reverse=True):
        if os.path.exists(f"/usr/lib/postgresql/{d}/bin/psql"):
            psql = f"/usr/lib/postgresql/{d}/bin/psql"
            break
    r = subprocess.run([psql, PG, "-XAtc", "select current_user || ' ' || current_setting('server_version_num')"],
                       capture_output=True, text=True)
    check(r.returncode == 0 and re.match(r"postgres \d+", r.stdout), "postgres connection", r.stdout + r.stderr)
    bad = re.sub(r":otel-bridge-test@", ":wrong@", PG)
    r = subprocess.run([psql, bad, "-XAtc", "select 1"], capture_output=True, text=True)
    check(r.returncode != 0 and "password authentication failed" in r.stderr, "postgres rejects bad password",
          r.stderr)


if __name__ == "__main__":
    clickhouse()
    otlp()
    postgres()
    print(f"selftest: services ok ({checks} checks)")
