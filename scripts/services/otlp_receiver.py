#!/usr/bin/env python3
"""OTLP/HTTP receiver for tests: decodes, records and answers exports like a collector would.

Usage: otlp_receiver.py --port P [--host 127.0.0.1]

Endpoints (OTLP/HTTP spec):
  POST /v1/metrics, /v1/traces, /v1/logs  body application/x-protobuf or application/json (OTLP JSON),
      optionally Content-Encoding: gzip. Success: 200 + Export*ServiceResponse in the request's content
      type. Errors: a google.rpc.Status body (code, message) in the request's content type, plus
      Retry-After when scripted. Undecodable body -> 400, other content types -> 415.
Control:
  GET  /__requests[?signal=metrics|traces|logs][&scope=/s/abc]  JSON list of records:
       {seq, signal, path, scope, headers (lowercased), content_type, content_encoding, status, accepted, body}
       body = MessageToDict(request) (OTLP JSON names: camelCase, int64 as strings, ids as base64;
       an OTLP/JSON request's hex ids are read as hex)
  POST /__reset    clear records and script
  POST /__control  {"script": [ENTRY, ...], "default": ENTRY, "scope": "/s/abc"}; each export pops the
                   next script entry of its scope, else uses the scope's default, else plain 200.
                   A scope is a path prefix: exports to /s/abc/v1/metrics use scope "/s/abc", plain
                   /v1/metrics the scope "" (the default), so parallel tests script only their own.
                   ENTRY keys (all optional):
                   status, retry_after, message, code (google.rpc code), delay_seconds,
                   partial_success {rejected_data_points|rejected_spans|rejected_log_records, error_message},
                   close_connection (drop the socket without answering),
                   retry_after_date_in (S: Retry-After as an IMF-fixdate S seconds after the answer),
                   hold (answer only once released: POST /__control {"scope": .., "release": true};
                         gives up waiting after hold_seconds, default 120),
                   raw_body and/or content_type (answer `status` with this body and Content-Type instead
                         of an OTLP response, e.g. a proxy's HTML login page; a content_type of "" sends
                         no Content-Type header; recorded with accepted=false and raw_answer=true, as it
                         is no OTLP acknowledgement)
                   metric (the entry applies only to an export holding a metric of this name; others
                         skip it and get the next entry without `metric`, or plain 200: so one
                         pipeline's exports can fail while another's, to the same endpoint, succeed)
                   POST /__control {"scope": .., "release": true} alone releases the scope's held exports.
  GET  /__control[?scope=/s/abc]  current script/default plus progress counters of the scope:
                   received (exports recorded), accepted (2xx recorded), inflight (being answered),
                   held (waiting for a release); tests poll these to act on observed progress.
  GET /health -> 200
Every record also carries t_received and t_answered (Unix seconds, float).
"""
import argparse
import email.utils
import gzip
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb

SIGNALS = {
    "/v1/metrics": ("metrics", metrics_pb.ExportMetricsServiceRequest, metrics_pb.ExportMetricsServiceResponse,
                    "rejected_data_points"),
    "/v1/traces": ("traces", trace_pb.ExportTraceServiceRequest, trace_pb.ExportTraceServiceResponse,
                   "rejected_spans"),
    "/v1/logs": ("logs", logs_pb.ExportLogsServiceRequest, logs_pb.ExportLogsServiceResponse,
                 "rejected_log_records"),
}
# HTTP status -> google.rpc.Code
RPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 408: 4, 409: 10, 413: 8, 415: 3, 429: 8, 499: 1,
            500: 13, 501: 12, 502: 14, 503: 14, 504: 4}


def _varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def rpc_status_proto(code, message):
    """google.rpc.Status { int32 code = 1; string message = 2; } encoded by hand."""
    msg = message.encode()
    out = b""
    if code:
        out += b"\x08" + _varint(code)
    if msg:
        out += b"\x12" + _varint(len(msg)) + msg
    return out


ID_KEYS = ("traceId", "spanId", "parentSpanId")


def parse_otlp_json(text, req):
    """OTLP/JSON into `req`: as the protobuf JSON mapping, except that trace and span ids (of spans,
    links and exemplars) are hex, as the OTLP specification requires, not base64."""
    import base64

    def fix(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ID_KEYS and isinstance(v, str):
                    try:
                        node[k] = base64.b64encode(bytes.fromhex(v)).decode()
                    except ValueError:
                        raise ValueError(f"{k} {v!r} is not hex")
                else:
                    fix(v)
        elif isinstance(node, list):
            for v in node:
                fix(v)
        return node

    json_format.ParseDict(fix(json.loads(text)), req)


def metric_names(req_cls, raw, is_json, cenc):
    """The metric names of an export, or none when it does not decode (decoding errors are answered later)."""
    try:
        data = gzip.decompress(raw) if cenc == "gzip" else raw
        req = req_cls()
        if is_json:
            parse_otlp_json(data.decode("utf-8"), req)
        else:
            req.ParseFromString(data)
        return frozenset(m.name for rm in getattr(req, "resource_metrics", [])
                         for sm in rm.scope_metrics for m in sm.metrics)
    except Exception:
        return frozenset()


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.records, self.scripts, self.defaults, self.seq = [], {}, {}, 0
        self.counters = {}   # scope -> {"received", "accepted", "inflight", "held"}
        self.releases = {}   # scope -> threading.Event set by a release

    def reset(self):
        with self.lock:
            self.records, self.scripts, self.defaults, self.counters = [], {}, {}, {}
            for ev in self.releases.values():
                ev.set()
            self.releases = {}

    def count(self, scope, key, n):
        with self.lock:
            c = self.counters.setdefault(scope, {"received": 0, "accepted": 0, "inflight": 0, "held": 0})
            c[key] += n

    def release_event(self, scope):
        with self.lock:
            return self.releases.setdefault(scope, threading.Event())

    def release(self, scope):
        with self.lock:
            ev = self.releases.pop(scope, None)
        if ev:
            ev.set()

    def next_entry(self, scope="", metrics=frozenset()):
        """The next script entry that applies to an export holding `metrics`, else the default."""
        def applies(entry):
            return entry.get("metric") is None or entry["metric"] in metrics
        with self.lock:
            script = self.scripts.get(scope) or []
            for i, entry in enumerate(script):
                if applies(entry):
                    return script.pop(i)
            default = self.defaults.get(scope) or {}
            return dict(default) if applies(default) else {}

    def control(self, scope=""):
        counters = self.counters.get(scope) or {"received": 0, "accepted": 0, "inflight": 0, "held": 0}
        return {"scope": scope, "script": self.scripts.get(scope, []), "default": self.defaults.get(scope),
                **counters}

    def record(self, rec):
        rec["t_answered"] = time.time()
        with self.lock:
            self.seq += 1
            rec["seq"] = self.seq
            self.records.append(rec)
            c = self.counters.setdefault(rec.get("scope", ""), {"received": 0, "accepted": 0, "inflight": 0, "held": 0})
            c["received"] += 1
            c["accepted"] += 1 if rec.get("accepted") else 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as ClickHouse's HTTP server (Poco's TCPServer) and the Collector (Go) set on
    # every connection: without it a response written in pieces waits for the client's delayed
    # ACK, 40 ms a request, which no real server adds.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))

    def _send(self, status, body, ctype, extra=None):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status, obj):
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _raw_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        url = urlsplit(self.path)
        st = self.server.state
        if url.path == "/__requests":
            q = parse_qs(url.query)
            sig, scope = q.get("signal", [None])[0], q.get("scope", [None])[0]
            with st.lock:
                recs = [r for r in st.records
                        if (sig is None or r["signal"] == sig) and (scope is None or r.get("scope") == scope)]
            return self._json(200, recs)
        if url.path == "/__control":
            scope = parse_qs(url.query).get("scope", [""])[0]
            with st.lock:
                return self._json(200, st.control(scope))
        if url.path in ("/", "/health"):
            return self._json(200, {"ok": True})
        self._json(404, {"error": "not found"})

    def do_POST(self):
        url = urlsplit(self.path)
        st = self.server.state
        raw = self._raw_body()
        if url.path == "/__reset":
            st.reset()
            return self._json(200, {})
        if url.path == "/__control":
            try:
                c = json.loads(raw or b"{}")
                scope = str(c.get("scope", ""))
                with st.lock:
                    if "script" in c:
                        st.scripts[scope] = list(c["script"] or [])
                    if "default" in c:
                        st.defaults[scope] = c["default"]
                if c.get("release"):
                    st.release(scope)
                with st.lock:
                    answer = st.control(scope)
            except (ValueError, TypeError) as e:
                return self._json(400, {"error": str(e)})
            return self._json(200, answer)
        signal_path = next((p for p in SIGNALS if url.path.endswith(p)), None)
        if signal_path is None:
            return self._json(404, {"error": "not found"})
        scope = url.path[: -len(signal_path)]
        st.count(scope, "inflight", 1)
        try:
            self._export(signal_path, raw, scope=scope)
        finally:
            st.count(scope, "inflight", -1)

    def _export(self, path, raw, scope=""):
        signal, req_cls, resp_cls, rejected_field = SIGNALS[path]
        st = self.server.state
        ctype_full = self.headers.get("Content-Type", "")
        ctype = ctype_full.split(";")[0].strip().lower()
        cenc = self.headers.get("Content-Encoding", "").strip().lower()
        is_json = ctype == "application/json"
        resp_ctype = "application/json" if is_json else "application/x-protobuf"
        rec = {"signal": signal, "path": scope + path, "scope": scope, "headers": {k.lower(): v for k, v in self.headers.items()},
               "content_type": ctype_full, "content_encoding": cenc, "status": None, "accepted": False,
               "body": None, "t_received": time.time()}
        entry = st.next_entry(scope, metric_names(req_cls, raw, is_json, cenc))
        if entry.get("hold"):
            ev = st.release_event(scope)
            st.count(scope, "held", 1)
            try:
                ev.wait(float(entry.get("hold_seconds", 120)))
            finally:
                st.count(scope, "held", -1)
        if entry.get("delay_seconds"):
            time.sleep(float(entry["delay_seconds"]))
        if entry.get("close_connection"):
            rec["error"] = "connection closed by script"
            st.record(rec)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        status, message = int(entry.get("status", 200)), entry.get("message", "")
        # decode
        try:
            if ctype not in ("application/json", "application/x-protobuf"):
                status, message = 415, f"unsupported content type {ctype_full!r}"
                raise ValueError(message)
            data = gzip.decompress(raw) if cenc == "gzip" else raw
            if cenc not in ("", "identity", "gzip"):
                raise ValueError(f"unsupported content encoding {cenc!r}")
            req = req_cls()
            if is_json:
                parse_otlp_json(data.decode("utf-8"), req)
            else:
                req.ParseFromString(data)
            rec["body"] = json_format.MessageToDict(req, preserving_proto_field_name=False)
        except Exception as e:  # undecodable: 400 per spec, whatever the script says
            if status != 415:
                status, message = 400, f"cannot decode request: {e}"
            rec["error"] = message
        headers = {}
        if entry.get("retry_after") is not None and status >= 300:
            headers["Retry-After"] = str(entry["retry_after"])
        if entry.get("retry_after_date_in") is not None and status >= 300:
            headers["Retry-After"] = email.utils.formatdate(time.time() + float(entry["retry_after_date_in"]),
                                                            usegmt=True)
        if entry.get("raw_body") is not None or "content_type" in entry:
            # a non-OTLP answer (a proxy's or login page's HTML): what the client must not take as an ack
            rec["status"], rec["accepted"], rec["raw_answer"] = status, False, True  # not an OTLP ack
            st.record(rec)
            raw = entry.get("raw_body") or ""
            body = raw.encode() if isinstance(raw, str) else bytes(raw)
            return self._send(status, body, entry.get("content_type", "text/html; charset=utf-8"), headers)
        if 200 <= status < 300:
            resp = resp_cls()
            ps = entry.get("partial_success")
            if ps:
                rej = next((v for k, v in ps.items() if k.startswith("rejected")), 0)
                setattr(resp.partial_success, rejected_field, int(rej))
                resp.partial_success.error_message = ps.get("error_message", "")
            body = json_format.MessageToJson(resp).encode() if is_json else resp.SerializeToString()
        else:
            code = int(entry.get("code", RPC_CODE.get(status, 2)))
            message = message or self.responses.get(status, ("error",))[0]
            body = (json.dumps({"code": code, "message": message}).encode() if is_json
                    else rpc_status_proto(code, message))
        rec["status"], rec["accepted"] = status, 200 <= status < 300
        st.record(rec)
        self._send(status, body, resp_ctype, headers)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    srv = ThreadingHTTPServer((a.host, a.port), Handler)
    srv.daemon_threads = True
    srv.state = State()
    sys.stderr.write(f"otlp_receiver listening on http://{a.host}:{a.port}\n")
    sys.stderr.flush()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
